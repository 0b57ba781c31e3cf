// A police unit's first calls to Sinergi from Node, over mutual TLS with
// its institution certificate, through the Connect protocol on the
// HTTP/JSON listener: the directory, a hit / no-hit presence check, one
// custody record, and a refused call whose field violations it reads.
//
//   npm ci && npm run build && node dist/example.js
//
// Environment: SINERGI_HTTP_URL (https://127.0.0.1:7444), SINERGI_PKI (the
// directory of ca.crt and <institution>.crt/.key, ../../.sinergi/pki),
// SINERGI_AS (polres-metro); SINERGI_NIK and SINERGI_RECORD_ID pick the
// person, else the first person held at lapas-metro is.
import { readFileSync } from "node:fs";
import { join } from "node:path";

import { timestampDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";

import { BadRequestSchema } from "./gen/google/rpc/error_details_pb.js";
import { Purpose } from "./gen/sinergi/v1/common_pb.js";
import { CustodyStatus } from "./gen/sinergi/v1/custody_pb.js";
import { CustodyService } from "./gen/sinergi/v1/custody_service_pb.js";
import { InstitutionService } from "./gen/sinergi/v1/institution_service_pb.js";

const pki = process.env.SINERGI_PKI ?? "../../.sinergi/pki";
const as = process.env.SINERGI_AS ?? "polres-metro";

const transport = createConnectTransport({
  baseUrl: process.env.SINERGI_HTTP_URL ?? "https://127.0.0.1:7444",
  httpVersion: "2",
  nodeOptions: {
    ca: readFileSync(join(pki, "ca.crt")),
    cert: readFileSync(join(pki, `${as}.crt`)),
    key: readFileSync(join(pki, `${as}.key`)),
  },
});
const institutions = createClient(InstitutionService, transport);
const custody = createClient(CustodyService, transport);

// Every call on personal data says who asks and why; an investigation
// names its police report.
const investigator = {
  operatorId: "85051234",
  purpose: Purpose.CRIMINAL_INVESTIGATION,
  caseReference: "LP/B/123/VIII/2025/SPKT",
};

async function main(): Promise<void> {
  const dir = await institutions.listInstitutions({ pageSize: 500 });
  console.log(`institutions: ${dir.institutions.length}`);

  let nik = process.env.SINERGI_NIK ?? "";
  let id = process.env.SINERGI_RECORD_ID ?? "";
  if (nik === "" || id === "") {
    const found = await custody.searchCustodyRecords({
      access: investigator,
      facilityCode: "lapas-metro",
      status: CustodyStatus.HELD,
      pageSize: 1,
    });
    if (found.records.length === 0) {
      throw new Error("nobody held at lapas-metro to look up");
    }
    nik = found.records[0].identity?.nik ?? "";
    id = found.records[0].id;
  }

  const presence = await custody.checkPresence({ access: investigator, nik });
  if (presence.held) {
    for (const p of presence.placements) {
      const since = p.heldSince ? timestampDate(p.heldSince).toISOString() : "?";
      console.log(`presence: held at ${p.facilityCode} since ${since}`);
    }
  } else {
    console.log("presence: not held");
  }

  const { record } = await custody.getCustodyRecord({ access: investigator, id });
  console.log(`record: ${record?.id} ${record?.registerNumber} at ${record?.facilityCode}`);

  // A NIK of five digits is refused before anything is read: the error
  // names the field in a google.rpc.BadRequest detail.
  try {
    await custody.checkPresence({ access: investigator, nik: "12345" });
    throw new Error("a five-digit NIK was accepted");
  } catch (e) {
    const err = ConnectError.from(e);
    if (err.code !== Code.InvalidArgument) {
      throw err;
    }
    for (const bad of err.findDetails(BadRequestSchema)) {
      for (const v of bad.fieldViolations) {
        console.log(`field violation ${v.field}: ${v.description}`);
      }
    }
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
