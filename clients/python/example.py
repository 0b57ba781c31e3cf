"""A police unit's first calls to Sinergi from Python, over gRPC with mutual
TLS and its institution certificate: the directory, a hit / no-hit presence
check, one custody record, and a refused call whose field violations it
reads from the google.rpc.BadRequest detail.

    ./generate.sh && /usr/bin/python3 example.py

Environment: SINERGI_ADDR (127.0.0.1:7443), SINERGI_PKI (the directory of
ca.crt and <institution>.crt/.key, ../../.sinergi/pki), SINERGI_AS
(polres-metro); SINERGI_NIK and SINERGI_RECORD_ID pick the person, else the
first person held at lapas-metro is.
"""

import os
import sys

import grpc

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "gen"))

from google.rpc import error_details_pb2, status_pb2  # noqa: E402
from sinergi.v1 import common_pb2, custody_pb2, custody_service_pb2  # noqa: E402
from sinergi.v1 import custody_service_pb2_grpc, institution_service_pb2  # noqa: E402
from sinergi.v1 import institution_service_pb2_grpc  # noqa: E402

# Every call on personal data says who asks and why; an investigation names
# its police report.
INVESTIGATOR = common_pb2.AccessContext(
    operator_id="85051234",
    purpose=common_pb2.PURPOSE_CRIMINAL_INVESTIGATION,
    case_reference="LP/B/123/VIII/2025/SPKT",
)


def channel():
    pki = os.environ.get("SINERGI_PKI", os.path.join(HERE, "..", "..", ".sinergi", "pki"))
    who = os.environ.get("SINERGI_AS", "polres-metro")

    def read(name):
        with open(os.path.join(pki, name), "rb") as f:
            return f.read()

    creds = grpc.ssl_channel_credentials(
        root_certificates=read("ca.crt"),
        private_key=read(who + ".key"),
        certificate_chain=read(who + ".crt"),
    )
    return grpc.secure_channel(os.environ.get("SINERGI_ADDR", "127.0.0.1:7443"), creds)


def field_violations(err):
    """The (field, description) pairs of the BadRequest detail of err."""
    out = []
    for key, value in err.trailing_metadata() or ():
        if key != "grpc-status-details-bin":
            continue
        st = status_pb2.Status.FromString(value)
        for detail in st.details:
            if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                bad = error_details_pb2.BadRequest()
                detail.Unpack(bad)
                out.extend((v.field, v.description) for v in bad.field_violations)
    return out


def main():
    with channel() as ch:
        institutions = institution_service_pb2_grpc.InstitutionServiceStub(ch)
        custody = custody_service_pb2_grpc.CustodyServiceStub(ch)

        directory = institutions.ListInstitutions(institution_service_pb2.ListInstitutionsRequest(page_size=500))
        print("institutions: %d" % len(directory.institutions))

        nik = os.environ.get("SINERGI_NIK", "")
        record_id = os.environ.get("SINERGI_RECORD_ID", "")
        if not nik or not record_id:
            found = custody.SearchCustodyRecords(custody_service_pb2.SearchCustodyRecordsRequest(
                access=INVESTIGATOR, facility_code="lapas-metro",
                status=custody_pb2.CUSTODY_STATUS_HELD, page_size=1))
            if not found.records:
                raise SystemExit("nobody held at lapas-metro to look up")
            nik, record_id = found.records[0].identity.nik, found.records[0].id

        presence = custody.CheckPresence(custody_service_pb2.CheckPresenceRequest(access=INVESTIGATOR, nik=nik))
        if presence.held:
            for p in presence.placements:
                print("presence: held at %s since %s" % (p.facility_code, p.held_since.ToJsonString()))
        else:
            print("presence: not held")

        got = custody.GetCustodyRecord(custody_service_pb2.GetCustodyRecordRequest(access=INVESTIGATOR, id=record_id))
        print("record: %s %s at %s" % (got.record.id, got.record.register_number, got.record.facility_code))

        # A NIK of five digits is refused before anything is read: the
        # error names the field.
        try:
            custody.CheckPresence(custody_service_pb2.CheckPresenceRequest(access=INVESTIGATOR, nik="12345"))
            raise SystemExit("a five-digit NIK was accepted")
        except grpc.RpcError as err:
            if err.code() != grpc.StatusCode.INVALID_ARGUMENT:
                raise
            for field, description in field_violations(err):
                print("field violation %s: %s" % (field, description))


if __name__ == "__main__":
    main()
