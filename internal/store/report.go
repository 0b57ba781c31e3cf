package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sinergi-id/sinergi/internal/authz/restrict"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// ReportChannel is NOTIFYed in the transaction of every report event, so
// that every server process's watchers wake when it commits.
const ReportChannel = "sinergi_report_events"

// Enum prefixes of the report tables' text columns.
const (
	reportKindPrefix     = "REPORT_KIND_"
	reportTypePrefix     = "REPORT_TYPE_"
	reportSeverityPrefix = "REPORT_SEVERITY_"
	reportClassPrefix    = "REPORT_CLASSIFICATION_"
	reportStatusPrefix   = "REPORT_STATUS_"
	reportOutcomePrefix  = "REPORT_OUTCOME_"
	reportRolePrefix     = "REPORT_PERSON_ROLE_"
	reportSubstPrefix    = "REPORT_SUBSTANCE_"
	reportUnitPrefix     = "REPORT_QUANTITY_UNIT_"
	reportReasonPrefix   = "REPORT_RECIPIENT_REASON_"
	reportEventPrefix    = "REPORT_EVENT_KIND_"
	scopePrefix          = "SCOPE_"
	coverageGapPrefix    = "COVERAGE_GAP_"
)

// reportRestrictionColumns are where a report query finds what its restriction
// tests: the report's facility and scope, whether the caller is among its
// recipients, and whether it is RAHASIA.
var reportRestrictionColumns = restrict.Columns{
	Facility: "r.facility_code",
	Scope:    "r.scope",
	// A police unit that warned a facility is among its report's parties as
	// its recipients are.
	Recipient: func(caller string) string {
		return "(r.author_code = " + caller + " OR r.id IN (SELECT rr.report_id FROM report_recipients rr WHERE rr.institution_code = " + caller + "))"
	},
	Secret: "(r.classification = 'RAHASIA')",
	Override: func(caller string) string {
		return "r.id IN (SELECT rr.report_id FROM report_recipients rr WHERE rr.institution_code = " + caller + " AND rr.reason = 'EMERGENCY_OVERRIDE')"
	},
}

// reportCond is rs as a condition on reports r, adding its arguments.
func reportCond(rs *restrict.Restriction, args *[]any) string {
	return rs.SQL(reportRestrictionColumns, func(v any) string {
		*args = append(*args, v)
		return "$" + strconv.Itoa(len(*args))
	})
}

// NewReportID returns a fresh report id: a UUID version 7, time-ordered so
// that new rows land together in the primary key's index.
func NewReportID(now time.Time) string {
	var b [16]byte
	_, _ = rand.Read(b[6:])
	ms := uint64(now.UnixMilli())
	b[0], b[1], b[2], b[3], b[4], b[5] = byte(ms>>40), byte(ms>>32), byte(ms>>24), byte(ms>>16), byte(ms>>8), byte(ms)
	b[6] = 0x70 | b[6]&0x0f
	b[8] = 0x80 | b[8]&0x3f
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// IsReportID reports whether s has the form of a report id.
func IsReportID(s string) bool {
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return false
	}
	for i, c := range s {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			continue
		}
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// routingMiss is a ReportRoutingMiss as stored (JSON).
type routingMiss struct {
	Code      string `json:"code"`
	Gap       string `json:"gap"`
	Agreement string `json:"agreement,omitempty"`
	GapTime   int64  `json:"gap_time_us,omitempty"`
	Suspended bool   `json:"suspended,omitempty"`
}

func encodeMisses(ms []*sinergiv1.ReportRoutingMiss) ([]byte, error) {
	out := make([]routingMiss, 0, len(ms))
	for _, m := range ms {
		rm := routingMiss{Code: m.GetInstitutionCode(), Gap: enumText(m.GetGap().String(), coverageGapPrefix), Agreement: m.GetAgreementId(),
			Suspended: m.GetSuspended()}
		if m.GetGapTime() != nil {
			rm.GapTime = m.GetGapTime().AsTime().UnixMicro()
		}
		out = append(out, rm)
	}
	return json.Marshal(out)
}

func decodeMisses(b []byte) ([]*sinergiv1.ReportRoutingMiss, error) {
	var ms []routingMiss
	if err := json.Unmarshal(b, &ms); err != nil {
		return nil, err
	}
	var out []*sinergiv1.ReportRoutingMiss
	for _, m := range ms {
		rm := &sinergiv1.ReportRoutingMiss{InstitutionCode: m.Code, AgreementId: m.Agreement, Suspended: m.Suspended,
			Gap: sinergiv1.CoverageGap(enumValue(sinergiv1.CoverageGap_value, coverageGapPrefix, m.Gap))}
		if m.GapTime != 0 {
			rm.GapTime = timestamppb.New(time.UnixMicro(m.GapTime))
		}
		out = append(out, rm)
	}
	return out, nil
}

// quantityText renders a seized quantity for a numeric column: the shortest
// decimal that reads back as the same float64, so sums are exact for
// quantities such as 0.5 or 12.25.
func quantityText(q float64) string { return strconv.FormatFloat(q, 'f', -1, 64) }

// audienceOf is who is told of an event: the facility, the author (a
// police unit that warned it), the observers and every recipient.
func audienceOf(facility, author string, observers []string, recipients []*sinergiv1.ReportRecipient) []string {
	out := make([]string, 0, 2+len(observers)+len(recipients))
	out = append(out, facility)
	if author != "" && author != facility {
		out = append(out, author)
	}
	out = append(out, observers...)
	for _, r := range recipients {
		out = append(out, r.GetInstitutionCode())
	}
	return out
}

// authorOf is r's author: the facility itself unless a police unit filed it.
func authorOf(r *sinergiv1.Report) string {
	if a := r.GetAuthorCode(); a != "" {
		return a
	}
	return r.GetFacilityCode()
}

// CreateReport files report r (its id, facility, content, submit time,
// status, routing result and attachments with content set by the caller)
// under the facility's idempotency key. When the key was used before with
// the same content hash it files nothing and returns the earlier report's
// id with replayed set; with another hash it returns ErrConflict. The
// first event (SUBMITTED) is appended and the audit record committed
// (hook) in the same transaction.
func (s *Store) CreateReport(ctx context.Context, hook TxHook, r *sinergiv1.Report, scope sinergiv1.Scope, key string, hash []byte) (id string, replayed bool, err error) {
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		id, replayed, err = createReportTx(ctx, tx, r, scope, key, hash)
		if err != nil || replayed {
			return err
		}
		return hook.WriteTx(ctx, tx)
	})
	if err != nil {
		return "", false, err
	}
	return id, replayed, nil
}

// createReportTx files report r in tx as CreateReport does, without the
// audit record: the caller writes it in the same transaction (a firearms
// incident files its report with the weapon's change).
func createReportTx(ctx context.Context, tx pgx.Tx, r *sinergiv1.Report, scope sinergiv1.Scope, key string, hash []byte) (id string, replayed bool, err error) {
	misses, err := encodeMisses(r.GetRoutingMisses())
	if err != nil {
		return "", false, err
	}
	var got string
	author := authorOf(r)
	err = tx.QueryRow(ctx, `
		INSERT INTO reports (id, facility_code, idempotency_key, content_hash, kind, scope, type, severity, classification,
			occur_time, place, narrative, operator_id, submit_time, routing_misses, status, last_event, author_code, observers,
			emergency_justification)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, 1, $17, $18, $19)
		ON CONFLICT (author_code, idempotency_key) DO NOTHING
		RETURNING id`,
		r.GetId(), r.GetFacilityCode(), key, hash, enumText(r.GetKind().String(), reportKindPrefix), restrict.ScopeText(scope),
		enumText(r.GetType().String(), reportTypePrefix), enumText(r.GetSeverity().String(), reportSeverityPrefix),
		enumText(r.GetClassification().String(), reportClassPrefix), r.GetOccurTime().AsTime(), r.GetPlace(),
		r.GetNarrative(), r.GetOperatorId(), r.GetSubmitTime().AsTime(), misses,
		enumText(sinergiv1.ReportStatus_REPORT_STATUS_SUBMITTED.String(), reportStatusPrefix), author, nonNil(r.GetObserverCodes()), r.GetEmergencyJustification()).Scan(&got)
	if errors.Is(err, pgx.ErrNoRows) {
		// The key was used: by this very submission (a retry) or by another.
		prev, same, err := reportKeyUsed(ctx, tx, author, key, hash)
		if err != nil {
			return "", false, err
		}
		if !same {
			return "", false, ErrConflict
		}
		return prev, true, nil
	}
	if err != nil {
		return "", false, err
	}
	id = got
	b := &pgx.Batch{}
	for i, p := range r.GetPeople() {
		o := p.GetOutsider()
		b.Queue(`INSERT INTO report_people (report_id, position, custody_record_id, name, nik, phone, role) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			id, i, p.GetCustodyRecordId(), o.GetName(), o.GetNik(), o.GetPhone(), enumText(p.GetRole().String(), reportRolePrefix))
	}
	for i, it := range r.GetItems() {
		var subst, unit, imei string
		var qty *string
		var weapon []byte
		if sb := it.GetSubstance(); sb != nil {
			subst, unit = enumText(sb.GetSubstance().String(), reportSubstPrefix), enumText(sb.GetUnit().String(), reportUnitPrefix)
			q := quantityText(sb.GetQuantity())
			qty = &q
		}
		if ph := it.GetPhone(); ph != nil {
			imei = ph.GetImei()
		}
		if w := it.GetWeapon(); w != nil {
			if weapon, err = encodeReportWeapon(w); err != nil {
				return "", false, err
			}
		}
		b.Queue(`INSERT INTO report_items (report_id, position, substance, quantity, unit, imei, description, weapon) VALUES ($1, $2, $3, $4::numeric, $5, $6, $7, $8)`,
			id, i, subst, qty, unit, imei, it.GetDescription(), weapon)
	}
	for _, a := range r.GetAttachments() {
		sum, err := hex.DecodeString(a.GetSha256())
		if err != nil {
			return "", false, fmt.Errorf("attachment %d digest: %w", a.GetNumber(), err)
		}
		b.Queue(`INSERT INTO report_attachments (report_id, number, filename, media_type, size_bytes, sha256, content) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			id, a.GetNumber(), a.GetFilename(), a.GetMediaType(), int64(len(a.GetContent())), sum, a.GetContent())
	}
	for i, rc := range r.GetRecipients() {
		queueRecipient(b, id, i, rc)
	}
	b.Queue(`INSERT INTO report_events (report_id, number, kind, at, actor_code, operator_id, status, audience) VALUES ($1, 1, $2, $3, $4, $5, $6, $7)`,
		id, enumText(sinergiv1.ReportEventKind_REPORT_EVENT_KIND_SUBMITTED.String(), reportEventPrefix), r.GetSubmitTime().AsTime(),
		author, r.GetOperatorId(), enumText(sinergiv1.ReportStatus_REPORT_STATUS_SUBMITTED.String(), reportStatusPrefix),
		audienceOf(r.GetFacilityCode(), author, r.GetObserverCodes(), r.GetRecipients()))
	b.Queue(`SELECT pg_notify($1, '')`, ReportChannel)
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return "", false, err
	}
	return id, false, nil
}

// reportKeyUsed looks up the report filed by author under key: its id,
// and whether it was filed with content hash.
func reportKeyUsed(ctx context.Context, tx pgx.Tx, author, key string, hash []byte) (id string, same bool, err error) {
	var prevHash []byte
	if err := tx.QueryRow(ctx, `SELECT id, content_hash FROM reports WHERE author_code = $1 AND idempotency_key = $2`,
		author, key).Scan(&id, &prevHash); err != nil {
		return "", false, err
	}
	return id, string(prevHash) == string(hash), nil
}

// reportWeapon is a ReportWeaponItem as report_items.weapon holds it.
type reportWeapon struct {
	ID         string `json:"id"`
	Category   string `json:"category"`
	Make       string `json:"make"`
	Model      string `json:"model"`
	Calibre    string `json:"calibre,omitempty"`
	Serial     string `json:"serial_number"`
	Discharged int32  `json:"rounds_discharged,omitempty"`
}

func encodeReportWeapon(w *sinergiv1.ReportWeaponItem) ([]byte, error) {
	return json.Marshal(reportWeapon{ID: w.GetWeaponId(), Category: enumText(w.GetCategory().String(), weaponCategoryPrefix),
		Make: w.GetMake(), Model: w.GetModel(), Calibre: w.GetCalibre(), Serial: w.GetSerialNumber(), Discharged: w.GetRoundsDischarged()})
}

func decodeReportWeapon(b []byte) (*sinergiv1.ReportWeaponItem, error) {
	var w reportWeapon
	if err := json.Unmarshal(b, &w); err != nil {
		return nil, err
	}
	return &sinergiv1.ReportWeaponItem{WeaponId: w.ID, Category: sinergiv1.WeaponCategory(enumValue(sinergiv1.WeaponCategory_value, weaponCategoryPrefix, w.Category)),
		Make: w.Make, Model: w.Model, Calibre: w.Calibre, SerialNumber: w.Serial, RoundsDischarged: w.Discharged}, nil
}

func queueRecipient(b *pgx.Batch, id string, position int, rc *sinergiv1.ReportRecipient) {
	var deadline *time.Time
	if d := rc.GetAcknowledgeDeadline(); d != nil {
		t := d.AsTime()
		deadline = &t
	}
	b.Queue(`INSERT INTO report_recipients (report_id, institution_code, position, agreement_ids, reason, escalated_from, add_time, deadline) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		id, rc.GetInstitutionCode(), position, nonNil(rc.GetAgreementIds()), enumText(rc.GetReason().String(), reportReasonPrefix),
		rc.GetEscalatedFromCode(), rc.GetAddTime().AsTime(), deadline)
}

const reportColumns = `r.id, r.facility_code, r.kind, r.type, r.severity, r.classification, r.occur_time, r.place, r.narrative,
	r.operator_id, r.submit_time, r.routing_misses, r.status, r.outcome, r.author_code, r.observers, r.emergency_justification`

// GetReport returns report id if it is within reach; ErrNotFound otherwise.
func (s *Store) GetReport(ctx context.Context, reach *restrict.Restriction, id string) (*sinergiv1.Report, error) {
	args := []any{id}
	var found string
	err := s.Pool.QueryRow(ctx, `SELECT r.id FROM reports r WHERE r.id = $1 AND `+reportCond(reach, &args), args...).Scan(&found)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	reps, err := s.LoadReports(ctx, []string{id})
	if err != nil {
		return nil, err
	}
	if len(reps) == 0 {
		return nil, ErrNotFound
	}
	return reps[0], nil
}

// ReportAdmitted reports whether report id exists and reach admits it.
func (s *Store) ReportAdmitted(ctx context.Context, reach *restrict.Restriction, id string) (bool, error) {
	if !IsReportID(id) {
		return false, nil
	}
	args := []any{id}
	var ok bool
	err := s.Pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM reports r WHERE r.id = $1 AND `+reportCond(reach, &args)+`)`, args...).Scan(&ok)
	return ok, err
}

// GetReportAttachment returns attachment number of report id, with its
// content, and the report's facility and kind, if the report is within
// reach; ErrNotFound otherwise.
func (s *Store) GetReportAttachment(ctx context.Context, reach *restrict.Restriction, id string, number int32) (a *sinergiv1.ReportAttachment, facility string, scope sinergiv1.Scope, err error) {
	args := []any{id, number}
	a = &sinergiv1.ReportAttachment{}
	var sum []byte
	var scopeText string
	err = s.Pool.QueryRow(ctx, `
		SELECT a.number, a.filename, a.media_type, a.size_bytes, a.sha256, a.content, r.facility_code, r.scope
		FROM report_attachments a JOIN reports r ON r.id = a.report_id
		WHERE a.report_id = $1 AND a.number = $2 AND `+reportCond(reach, &args), args...).
		Scan(&a.Number, &a.Filename, &a.MediaType, &a.SizeBytes, &sum, &a.Content, &facility, &scopeText)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, "", 0, ErrNotFound
	}
	if err != nil {
		return nil, "", 0, err
	}
	a.Sha256 = hex.EncodeToString(sum)
	return a, facility, scopeOf(scopeText), nil
}

// ReportFilter selects reports.
type ReportFilter struct {
	Kind     sinergiv1.ReportKind
	Type     sinergiv1.ReportType
	Severity sinergiv1.ReportSeverity
	Status   sinergiv1.ReportStatus
	Facility string
	// Occurrence in [Start, End); zero: open.
	Start, End time.Time
	// Keyset position: reports strictly after (BeforeOccur, BeforeID) in
	// the order occur_time DESC, id DESC.
	BeforeOccur time.Time
	BeforeID    string
	Limit       int
}

func (f ReportFilter) where(reach *restrict.Restriction, args *[]any) string {
	conds := []string{reportCond(reach, args)}
	add := func(cond string, v any) {
		*args = append(*args, v)
		conds = append(conds, fmt.Sprintf(cond, len(*args)))
	}
	if f.Kind != sinergiv1.ReportKind_REPORT_KIND_UNSPECIFIED {
		add("r.kind = $%d", enumText(f.Kind.String(), reportKindPrefix))
	}
	if f.Type != sinergiv1.ReportType_REPORT_TYPE_UNSPECIFIED {
		add("r.type = $%d", enumText(f.Type.String(), reportTypePrefix))
	}
	if f.Severity != sinergiv1.ReportSeverity_REPORT_SEVERITY_UNSPECIFIED {
		add("r.severity = $%d", enumText(f.Severity.String(), reportSeverityPrefix))
	}
	if f.Status != sinergiv1.ReportStatus_REPORT_STATUS_UNSPECIFIED {
		add("r.status = $%d", enumText(f.Status.String(), reportStatusPrefix))
	}
	if f.Facility != "" {
		add("r.facility_code = $%d", f.Facility)
	}
	if !f.Start.IsZero() {
		add("r.occur_time >= $%d", f.Start)
	}
	if !f.End.IsZero() {
		add("r.occur_time < $%d", f.End)
	}
	if !f.BeforeOccur.IsZero() {
		*args = append(*args, f.BeforeOccur, f.BeforeID)
		conds = append(conds, fmt.Sprintf("(r.occur_time, r.id) < ($%d, $%d)", len(*args)-1, len(*args)))
	}
	return strings.Join(conds, " AND ")
}

// ListReports returns the reports within reach that match f, latest
// occurrence first.
func (s *Store) ListReports(ctx context.Context, reach *restrict.Restriction, f ReportFilter) ([]*sinergiv1.Report, error) {
	var args []any
	q := `SELECT r.id FROM reports r WHERE ` + f.where(reach, &args)
	args = append(args, f.Limit)
	q += fmt.Sprintf(" ORDER BY r.occur_time DESC, r.id DESC LIMIT $%d", len(args))
	rows, err := s.Pool.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	return s.LoadReports(ctx, ids)
}

// LoadReports reads whole reports (attachments without content), in the
// order of ids, in one round trip. It applies no reach: callers have
// selected ids within reach.
func (s *Store) LoadReports(ctx context.Context, ids []string) ([]*sinergiv1.Report, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	byID := make(map[string]*sinergiv1.Report, len(ids))
	b := &pgx.Batch{}
	b.Queue(`SELECT `+reportColumns+` FROM reports r WHERE r.id = ANY($1)`, ids).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var r sinergiv1.Report
			var kind, typ, sev, class, st, outcome string
			var occur, submit time.Time
			var misses []byte
			if err := rows.Scan(&r.Id, &r.FacilityCode, &kind, &typ, &sev, &class, &occur, &r.Place, &r.Narrative,
				&r.OperatorId, &submit, &misses, &st, &outcome, &r.AuthorCode, &r.ObserverCodes, &r.EmergencyJustification); err != nil {
				return err
			}
			r.Kind = sinergiv1.ReportKind(enumValue(sinergiv1.ReportKind_value, reportKindPrefix, kind))
			r.Type = sinergiv1.ReportType(enumValue(sinergiv1.ReportType_value, reportTypePrefix, typ))
			r.Severity = sinergiv1.ReportSeverity(enumValue(sinergiv1.ReportSeverity_value, reportSeverityPrefix, sev))
			r.Classification = sinergiv1.ReportClassification(enumValue(sinergiv1.ReportClassification_value, reportClassPrefix, class))
			r.Status = sinergiv1.ReportStatus(enumValue(sinergiv1.ReportStatus_value, reportStatusPrefix, st))
			r.Outcome = sinergiv1.ReportOutcome(enumValue(sinergiv1.ReportOutcome_value, reportOutcomePrefix, outcome))
			r.OccurTime, r.SubmitTime = timestamppb.New(occur), timestamppb.New(submit)
			ms, err := decodeMisses(misses)
			if err != nil {
				return fmt.Errorf("routing misses of report %s: %w", r.Id, err)
			}
			r.RoutingMisses = ms
			byID[r.Id] = &r
		}
		return rows.Err()
	})
	b.Queue(`SELECT report_id, custody_record_id, name, nik, phone, role FROM report_people WHERE report_id = ANY($1) ORDER BY report_id, position`, ids).
		Query(func(rows pgx.Rows) error {
			for rows.Next() {
				var id, custody, name, nikv, phone, role string
				if err := rows.Scan(&id, &custody, &name, &nikv, &phone, &role); err != nil {
					return err
				}
				p := &sinergiv1.ReportPerson{Role: sinergiv1.ReportPersonRole(enumValue(sinergiv1.ReportPersonRole_value, reportRolePrefix, role))}
				if custody != "" {
					p.Person = &sinergiv1.ReportPerson_CustodyRecordId{CustodyRecordId: custody}
				} else {
					p.Person = &sinergiv1.ReportPerson_Outsider{Outsider: &sinergiv1.ReportOutsider{Name: name, Nik: nikv, Phone: phone}}
				}
				if r := byID[id]; r != nil {
					r.People = append(r.People, p)
				}
			}
			return rows.Err()
		})
	b.Queue(`SELECT report_id, substance, quantity::text, unit, imei, description, weapon FROM report_items WHERE report_id = ANY($1) ORDER BY report_id, position`, ids).
		Query(func(rows pgx.Rows) error {
			for rows.Next() {
				var id, subst, unit, imei, desc string
				var qty *string
				var weapon []byte
				if err := rows.Scan(&id, &subst, &qty, &unit, &imei, &desc, &weapon); err != nil {
					return err
				}
				it := &sinergiv1.ReportItem{Description: desc}
				switch {
				case subst != "":
					q, err := strconv.ParseFloat(deref(qty), 64)
					if err != nil {
						return fmt.Errorf("quantity of report %s: %w", id, err)
					}
					it.Item = &sinergiv1.ReportItem_Substance{Substance: &sinergiv1.ReportSubstanceItem{
						Substance: sinergiv1.ReportSubstance(enumValue(sinergiv1.ReportSubstance_value, reportSubstPrefix, subst)),
						Quantity:  q,
						Unit:      sinergiv1.ReportQuantityUnit(enumValue(sinergiv1.ReportQuantityUnit_value, reportUnitPrefix, unit)),
					}}
				case imei != "":
					it.Item = &sinergiv1.ReportItem_Phone{Phone: &sinergiv1.ReportPhoneItem{Imei: imei}}
				case weapon != nil:
					w, err := decodeReportWeapon(weapon)
					if err != nil {
						return fmt.Errorf("weapon of report %s: %w", id, err)
					}
					it.Item = &sinergiv1.ReportItem_Weapon{Weapon: w}
				}
				if r := byID[id]; r != nil {
					r.Items = append(r.Items, it)
				}
			}
			return rows.Err()
		})
	b.Queue(`SELECT report_id, number, filename, media_type, size_bytes, sha256 FROM report_attachments WHERE report_id = ANY($1) ORDER BY report_id, number`, ids).
		Query(func(rows pgx.Rows) error {
			for rows.Next() {
				var id string
				var sum []byte
				a := &sinergiv1.ReportAttachment{}
				if err := rows.Scan(&id, &a.Number, &a.Filename, &a.MediaType, &a.SizeBytes, &sum); err != nil {
					return err
				}
				a.Sha256 = hex.EncodeToString(sum)
				if r := byID[id]; r != nil {
					r.Attachments = append(r.Attachments, a)
				}
			}
			return rows.Err()
		})
	b.Queue(`SELECT report_id, `+recipientColumns+` FROM report_recipients WHERE report_id = ANY($1) ORDER BY report_id, position`, ids).
		Query(func(rows pgx.Rows) error {
			for rows.Next() {
				var id string
				rc, err := scanRecipient(rows, &id)
				if err != nil {
					return err
				}
				if r := byID[id]; r != nil {
					r.Recipients = append(r.Recipients, rc)
				}
			}
			return rows.Err()
		})
	b.Queue(`SELECT report_id, number, author_code, operator_id, text, outcomes, create_time FROM report_addenda WHERE report_id = ANY($1) ORDER BY report_id, number`, ids).
		Query(func(rows pgx.Rows) error {
			for rows.Next() {
				var id string
				var outcomes []string
				var at time.Time
				a := &sinergiv1.ReportAddendum{}
				if err := rows.Scan(&id, &a.Number, &a.AuthorCode, &a.OperatorId, &a.Text, &outcomes, &at); err != nil {
					return err
				}
				for _, o := range outcomes {
					a.Outcomes = append(a.Outcomes, sinergiv1.ReportOutcome(enumValue(sinergiv1.ReportOutcome_value, reportOutcomePrefix, o)))
				}
				a.CreateTime = timestamppb.New(at)
				if r := byID[id]; r != nil {
					r.Addenda = append(r.Addenda, a)
				}
			}
			return rows.Err()
		})
	b.Queue(`SELECT `+eventColumns+` FROM report_events e WHERE e.report_id = ANY($1) ORDER BY e.report_id, e.number`, ids).
		Query(func(rows pgx.Rows) error {
			for rows.Next() {
				ev, err := scanEvent(rows)
				if err != nil {
					return err
				}
				if r := byID[ev.GetReportId()]; r != nil {
					r.Events = append(r.Events, ev)
				}
			}
			return rows.Err()
		})
	b.Queue(`SELECT report_id, `+coordinationColumns+` FROM report_coordination WHERE report_id = ANY($1) ORDER BY report_id, number`, ids).
		Query(func(rows pgx.Rows) error {
			for rows.Next() {
				var id string
				c, err := scanCoordination(rows, &id)
				if err != nil {
					return err
				}
				if r := byID[id]; r != nil {
					r.Coordination = append(r.Coordination, c)
				}
			}
			return rows.Err()
		})
	if err := s.Pool.SendBatch(ctx, b).Close(); err != nil {
		return nil, err
	}
	out := make([]*sinergiv1.Report, 0, len(ids))
	for _, id := range ids {
		if r := byID[id]; r != nil {
			out = append(out, r)
		}
	}
	return out, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

const recipientColumns = `institution_code, agreement_ids, reason, escalated_from, add_time, deadline, ack_time, ack_operator, escalate_time`

func scanRecipient(row pgx.Row, extra ...any) (*sinergiv1.ReportRecipient, error) {
	rc := &sinergiv1.ReportRecipient{}
	var reason string
	var add time.Time
	var deadline, ack, esc *time.Time
	dest := append(extra, &rc.InstitutionCode, &rc.AgreementIds, &reason, &rc.EscalatedFromCode, &add, &deadline, &ack, &rc.AcknowledgeOperatorId, &esc)
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	rc.Reason = sinergiv1.ReportRecipientReason(enumValue(sinergiv1.ReportRecipientReason_value, reportReasonPrefix, reason))
	rc.AddTime = timestamppb.New(add)
	rc.AcknowledgeDeadline, rc.AcknowledgeTime, rc.EscalateTime = optTime(deadline), optTime(ack), optTime(esc)
	return rc, nil
}

const eventColumns = `e.report_id, e.number, e.kind, e.at, e.actor_code, e.operator_id, e.status, e.outcome, e.recipient_code,
	e.escalated_from, e.addendum_number, e.coordination_number`

func scanEvent(row pgx.Row, extra ...any) (*sinergiv1.ReportEvent, error) {
	ev := &sinergiv1.ReportEvent{}
	var kind, st, outcome string
	var at time.Time
	dest := append([]any{&ev.ReportId, &ev.Number, &kind, &at, &ev.ActorCode, &ev.OperatorId, &st, &outcome, &ev.RecipientCode,
		&ev.EscalatedFromCode, &ev.AddendumNumber, &ev.CoordinationNumber}, extra...)
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	ev.Kind = sinergiv1.ReportEventKind(enumValue(sinergiv1.ReportEventKind_value, reportEventPrefix, kind))
	ev.Status = sinergiv1.ReportStatus(enumValue(sinergiv1.ReportStatus_value, reportStatusPrefix, st))
	ev.Outcome = sinergiv1.ReportOutcome(enumValue(sinergiv1.ReportOutcome_value, reportOutcomePrefix, outcome))
	ev.Time = timestamppb.New(at)
	return ev, nil
}

// ReportState is a report as a change to it needs to see it, read under
// its row lock.
type ReportState struct {
	ID       string
	Facility string
	// Author filed it: the facility, or the police unit that warned it.
	Author string
	// Observers are told of every event (see Report.observer_codes).
	Observers      []string
	Kind           sinergiv1.ReportKind
	Scope          sinergiv1.Scope
	Severity       sinergiv1.ReportSeverity
	Classification sinergiv1.ReportClassification
	Status         sinergiv1.ReportStatus
	Recipients     []*sinergiv1.ReportRecipient
	// Coordination is the thread of an assistance request (empty for other
	// kinds), oldest first.
	Coordination []*sinergiv1.CoordinationEntry
}

// Recipient returns the recipient with code, or nil.
func (st *ReportState) Recipient(code string) *sinergiv1.ReportRecipient {
	for _, r := range st.Recipients {
		if r.GetInstitutionCode() == code {
			return r
		}
	}
	return nil
}

// ReportChange is what one change does to a report. Each change appends
// exactly one event.
type ReportChange struct {
	At time.Time
	// Acknowledge: the recipient that acknowledges, and its officer.
	Acknowledge, AckOperator string
	// Status: the new status (unspecified: unchanged), and Outcome for CLOSED.
	Status  sinergiv1.ReportStatus
	Outcome sinergiv1.ReportOutcome
	// Addendum to append (its number and time are assigned here).
	Addendum *sinergiv1.ReportAddendum
	// EscalatedPast: the recipient that missed its deadline.
	EscalatedPast string
	// AddRecipient: a new recipient (the unit escalated to).
	AddRecipient *sinergiv1.ReportRecipient
	// Coordination: an entry to append to the thread (its number and time
	// are assigned here).
	Coordination *sinergiv1.CoordinationEntry
	// Event: kind, actor, operator, recipient, escalated_from; its number,
	// time, status, outcome and addendum number are filled in here.
	Event *sinergiv1.ReportEvent
}

// UpdateReport applies the change fn decides, given the report as it stands
// under its row lock, if the report is within reach (else ErrNotFound). fn
// returning nil changes nothing (and commits no audit record: the caller's
// record is written by the audit interceptor). db is the pool when nil.
func (s *Store) UpdateReport(ctx context.Context, db DB, hook TxHook, reach *restrict.Restriction, id string, fn func(*ReportState) (*ReportChange, error)) (changed bool, err error) {
	if db == nil {
		db = s.Pool
	}
	err = pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		args := []any{id}
		st := &ReportState{}
		var kind, scope, sev, class, status string
		var lastEvent, lastAddendum int32
		err := tx.QueryRow(ctx, `SELECT r.id, r.facility_code, r.kind, r.scope, r.severity, r.classification, r.status, r.last_event, r.last_addendum,
				r.author_code, r.observers
			FROM reports r WHERE r.id = $1 AND `+reportCond(reach, &args)+` FOR UPDATE OF r`, args...).
			Scan(&st.ID, &st.Facility, &kind, &scope, &sev, &class, &status, &lastEvent, &lastAddendum, &st.Author, &st.Observers)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		st.Kind = sinergiv1.ReportKind(enumValue(sinergiv1.ReportKind_value, reportKindPrefix, kind))
		st.Scope = scopeOf(scope)
		st.Severity = sinergiv1.ReportSeverity(enumValue(sinergiv1.ReportSeverity_value, reportSeverityPrefix, sev))
		st.Classification = sinergiv1.ReportClassification(enumValue(sinergiv1.ReportClassification_value, reportClassPrefix, class))
		st.Status = sinergiv1.ReportStatus(enumValue(sinergiv1.ReportStatus_value, reportStatusPrefix, status))
		rows, err := tx.Query(ctx, `SELECT `+recipientColumns+` FROM report_recipients WHERE report_id = $1 ORDER BY position`, id)
		if err != nil {
			return err
		}
		st.Recipients, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (*sinergiv1.ReportRecipient, error) { return scanRecipient(r) })
		if err != nil {
			return err
		}
		if st.Kind == sinergiv1.ReportKind_REPORT_KIND_ASSISTANCE_REQUEST {
			rows, err := tx.Query(ctx, `SELECT `+coordinationColumns+` FROM report_coordination WHERE report_id = $1 ORDER BY number`, id)
			if err != nil {
				return err
			}
			st.Coordination, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (*sinergiv1.CoordinationEntry, error) { return scanCoordination(r) })
			if err != nil {
				return err
			}
		}
		ch, err := fn(st)
		if err != nil || ch == nil {
			return err
		}
		changed = true
		ev := ch.Event
		ev.Number, ev.Time = lastEvent+1, timestamppb.New(ch.At)
		newStatus := st.Status
		outcome := ""
		if ch.Status != sinergiv1.ReportStatus_REPORT_STATUS_UNSPECIFIED {
			newStatus = ch.Status
		}
		if ch.Outcome != sinergiv1.ReportOutcome_REPORT_OUTCOME_UNSPECIFIED {
			outcome = enumText(ch.Outcome.String(), reportOutcomePrefix)
			ev.Outcome = ch.Outcome
		}
		ev.Status = newStatus
		b := &pgx.Batch{}
		if ch.Acknowledge != "" {
			b.Queue(`UPDATE report_recipients SET ack_time = $3, ack_operator = $4 WHERE report_id = $1 AND institution_code = $2 AND ack_time IS NULL`,
				id, ch.Acknowledge, ch.At, ch.AckOperator)
		}
		if ch.EscalatedPast != "" {
			b.Queue(`UPDATE report_recipients SET escalate_time = $3 WHERE report_id = $1 AND institution_code = $2 AND escalate_time IS NULL`,
				id, ch.EscalatedPast, ch.At)
		}
		recipients := st.Recipients
		if ch.AddRecipient != nil && st.Recipient(ch.AddRecipient.GetInstitutionCode()) == nil {
			queueRecipient(b, id, len(st.Recipients), ch.AddRecipient)
			recipients = append(recipients, ch.AddRecipient)
		}
		if a := ch.Addendum; a != nil {
			lastAddendum++
			a.Number, a.CreateTime = lastAddendum, timestamppb.New(ch.At)
			ev.AddendumNumber = a.Number
			outcomes := make([]string, 0, len(a.GetOutcomes()))
			for _, o := range a.GetOutcomes() {
				outcomes = append(outcomes, enumText(o.String(), reportOutcomePrefix))
			}
			b.Queue(`INSERT INTO report_addenda (report_id, number, author_code, operator_id, text, outcomes, create_time) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
				id, a.Number, a.GetAuthorCode(), a.GetOperatorId(), a.GetText(), outcomes, ch.At)
		}
		if c := ch.Coordination; c != nil {
			c.Number, c.CreateTime = int32(len(st.Coordination)+1), timestamppb.New(ch.At)
			ev.CoordinationNumber = c.Number
			queueCoordination(b, id, c)
		}
		setOutcome := "outcome"
		if outcome != "" {
			setOutcome = "$5"
		}
		b.Queue(`UPDATE reports SET status = $2, last_event = $3, last_addendum = $4, outcome = `+setOutcome+` WHERE id = $1`,
			reportUpdateArgs(id, enumText(newStatus.String(), reportStatusPrefix), ev.Number, lastAddendum, outcome)...)
		b.Queue(`INSERT INTO report_events (report_id, number, kind, at, actor_code, operator_id, status, outcome, recipient_code, escalated_from, addendum_number, audience, coordination_number)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
			id, ev.Number, enumText(ev.GetKind().String(), reportEventPrefix), ch.At, ev.GetActorCode(), ev.GetOperatorId(),
			enumText(newStatus.String(), reportStatusPrefix), outcome, ev.GetRecipientCode(), ev.GetEscalatedFromCode(), ev.GetAddendumNumber(),
			audienceOf(st.Facility, st.Author, st.Observers, recipients), ev.GetCoordinationNumber())
		b.Queue(`SELECT pg_notify($1, '')`, ReportChannel)
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		return hook.WriteTx(ctx, tx)
	})
	return changed, err
}

func reportUpdateArgs(id, status string, lastEvent, lastAddendum int32, outcome string) []any {
	if outcome == "" {
		return []any{id, status, lastEvent, lastAddendum}
	}
	return []any{id, status, lastEvent, lastAddendum, outcome}
}

// OverdueRecipient is a recipient past its acknowledgement deadline.
type OverdueRecipient struct {
	ReportID    string
	Institution string
	Deadline    time.Time
}

// OverdueReportRecipients returns up to limit recipients whose deadline is
// at or before now, neither acknowledged nor escalated, of reports not
// closed, earliest deadline first.
func OverdueReportRecipients(ctx context.Context, db DB, now time.Time, limit int) ([]OverdueRecipient, error) {
	rows, err := db.Query(ctx, `
		SELECT rr.report_id, rr.institution_code, rr.deadline
		FROM report_recipients rr JOIN reports r ON r.id = rr.report_id
		WHERE rr.ack_time IS NULL AND rr.escalate_time IS NULL AND rr.deadline IS NOT NULL AND rr.deadline <= $1
		  AND r.status <> 'CLOSED'
		ORDER BY rr.deadline, rr.report_id, rr.institution_code
		LIMIT $2`, now, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (OverdueRecipient, error) {
		var o OverdueRecipient
		err := r.Scan(&o.ReportID, &o.Institution, &o.Deadline)
		return o, err
	})
}

// ReportPosition is a place in the stream of report events: the seq of
// the last event passed.
type ReportPosition struct {
	Seq int64 `json:"s"`
}

// ReportWatchStart is the position "now": after every event committed so
// far. An event still committing gets a higher seq.
func (s *Store) ReportWatchStart(ctx context.Context) (ReportPosition, error) {
	var p ReportPosition
	err := s.Pool.QueryRow(ctx, `SELECT coalesce(max(seq), 0) FROM report_events`).Scan(&p.Seq)
	return p, err
}

// ReportEventRow is one event with what deciding its delivery needs.
type ReportEventRow struct {
	Pos            ReportPosition
	Event          *sinergiv1.ReportEvent
	Facility       string
	Scope          sinergiv1.Scope
	Classification sinergiv1.ReportClassification
	// The reader received the report by an emergency override.
	Override bool
}

// Row is the event's report as a restriction's in-memory form sees it,
// given that the reader is in the event's audience.
func (row ReportEventRow) Row() restrict.Row {
	return restrict.Row{Facility: row.Facility, Scope: row.Scope, Recipient: true, Override: row.Override,
		Secret: row.Classification == sinergiv1.ReportClassification_REPORT_CLASSIFICATION_RAHASIA}
}

func scopeOf(text string) sinergiv1.Scope {
	return sinergiv1.Scope(enumValue(sinergiv1.Scope_value, scopePrefix, text))
}

// ReportEventsAfter returns up to limit events after position whose
// audience includes code, in seq order. A seq is given while the writing
// transaction commits, under a lock held until the commit is visible
// (migration 00004, sinergi_report_event_sequence), so every event below
// the highest one visible is visible too: nothing can later appear behind
// the position a caller reached.
//
// With reportID set, only that report's events are returned.
func (s *Store) ReportEventsAfter(ctx context.Context, code string, after ReportPosition, limit int, reportID string) ([]ReportEventRow, error) {
	only := ""
	args := []any{code, after.Seq, limit}
	if reportID != "" {
		args = append(args, reportID)
		only = " AND e.report_id = $4"
	}
	rows, err := s.Pool.Query(ctx, `
		SELECT `+eventColumns+`, e.seq, r.facility_code, r.scope, r.classification,
			EXISTS (SELECT 1 FROM report_recipients rr WHERE rr.report_id = e.report_id AND rr.institution_code = $1
				AND rr.reason = 'EMERGENCY_OVERRIDE')
		FROM report_events e JOIN reports r ON r.id = e.report_id
		WHERE e.seq > $2 AND $1 = ANY(e.audience)`+only+`
		ORDER BY e.seq
		LIMIT $3`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var events []ReportEventRow
	for rows.Next() {
		var row ReportEventRow
		var scope, class string
		ev, err := scanEvent(rows, &row.Pos.Seq, &row.Facility, &scope, &class, &row.Override)
		if err != nil {
			return nil, err
		}
		row.Event = ev
		row.Scope = scopeOf(scope)
		row.Classification = sinergiv1.ReportClassification(enumValue(sinergiv1.ReportClassification_value, reportClassPrefix, class))
		events = append(events, row)
	}
	return events, rows.Err()
}

// ReportStats counts the reports within reach that match f (its kind,
// type, severity, status, facility and occurrence range) by facility, kind,
// type, severity and month of occurrence (WIB), and sums the substances
// seized in them by substance and unit.
//
// It also sums, by recipient and month of occurrence, how each recipient
// answered (see ReportUnitStats); a recipient is overdue when it
// acknowledged after its deadline, or had not acknowledged by now.
func (s *Store) ReportStats(ctx context.Context, reach *restrict.Restriction, f ReportFilter, now time.Time) (*sinergiv1.ReportStatsResponse, error) {
	f.BeforeOccur, f.BeforeID = time.Time{}, ""
	var args []any
	where := f.where(reach, &args)
	out := &sinergiv1.ReportStatsResponse{}
	b := &pgx.Batch{}
	b.Queue(`SELECT r.facility_code, r.kind, r.type, r.severity, to_char(r.occur_time AT TIME ZONE 'Asia/Jakarta', 'YYYY-MM'), count(*)
		FROM reports r WHERE `+where+`
		GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5`, args...).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var kind, typ, sev string
			c := &sinergiv1.ReportCount{}
			if err := rows.Scan(&c.FacilityCode, &kind, &typ, &sev, &c.Month, &c.Count); err != nil {
				return err
			}
			c.Kind = sinergiv1.ReportKind(enumValue(sinergiv1.ReportKind_value, reportKindPrefix, kind))
			c.Type = sinergiv1.ReportType(enumValue(sinergiv1.ReportType_value, reportTypePrefix, typ))
			c.Severity = sinergiv1.ReportSeverity(enumValue(sinergiv1.ReportSeverity_value, reportSeverityPrefix, sev))
			out.Counts = append(out.Counts, c)
			out.Total += c.Count
		}
		return rows.Err()
	})
	b.Queue(`SELECT i.substance, i.unit, sum(i.quantity)::text, count(*)
		FROM report_items i JOIN reports r ON r.id = i.report_id
		WHERE i.substance <> '' AND `+where+`
		GROUP BY 1, 2 ORDER BY 1, 2`, args...).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var subst, unit, sum string
			t := &sinergiv1.ReportSeizedTotal{}
			if err := rows.Scan(&subst, &unit, &sum, &t.Items); err != nil {
				return err
			}
			q, err := strconv.ParseFloat(sum, 64)
			if err != nil {
				return err
			}
			t.Substance = sinergiv1.ReportSubstance(enumValue(sinergiv1.ReportSubstance_value, reportSubstPrefix, subst))
			t.Unit = sinergiv1.ReportQuantityUnit(enumValue(sinergiv1.ReportQuantityUnit_value, reportUnitPrefix, unit))
			t.Quantity = q
			out.Seized = append(out.Seized, t)
		}
		return rows.Err()
	})
	b.Queue(`SELECT count(*) FROM report_items i JOIN reports r ON r.id = i.report_id WHERE i.imei <> '' AND `+where, args...).
		QueryRow(func(row pgx.Row) error { return row.Scan(&out.PhonesSeized) })
	unitArgs := append(append([]any(nil), args...), now)
	nowArg := "$" + strconv.Itoa(len(unitArgs))
	b.Queue(`SELECT rr.institution_code, to_char(r.occur_time AT TIME ZONE 'Asia/Jakarta', 'YYYY-MM'),
			count(*), count(rr.ack_time),
			coalesce(percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM rr.ack_time - rr.add_time)), 0),
			coalesce(percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM rr.ack_time - rr.add_time)), 0),
			count(*) FILTER (WHERE rr.deadline IS NOT NULL AND coalesce(rr.ack_time, `+nowArg+`) > rr.deadline),
			count(rr.escalate_time),
			count(*) FILTER (WHERE rr.reason = 'EMERGENCY_OVERRIDE'),
			count(d.at),
			coalesce(percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM d.at - rr.add_time)), 0),
			coalesce(percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM d.at - rr.add_time)), 0)
		FROM report_recipients rr JOIN reports r ON r.id = rr.report_id
		LEFT JOIN LATERAL (SELECT min(c.create_time) AS at FROM report_coordination c
			WHERE c.report_id = rr.report_id AND c.author_code = rr.institution_code AND c.kind = 'DISPATCH') d ON true
		WHERE `+where+`
		GROUP BY 1, 2 ORDER BY 1, 2`, unitArgs...).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			u := &sinergiv1.ReportUnitStats{}
			if err := rows.Scan(&u.InstitutionCode, &u.Month, &u.Received, &u.Acknowledged, &u.AcknowledgeP50Seconds, &u.AcknowledgeP90Seconds,
				&u.Overdue, &u.Escalated, &u.Overrides, &u.Dispatches, &u.DispatchP50Seconds, &u.DispatchP90Seconds); err != nil {
				return err
			}
			out.Units = append(out.Units, u)
		}
		return rows.Err()
	})
	if err := s.Pool.SendBatch(ctx, b).Close(); err != nil {
		return nil, err
	}
	return out, nil
}

// Enum prefixes of the coordination thread's text columns.
const coordinationKindPrefix = "COORDINATION_KIND_"

const coordinationColumns = `number, kind, author_code, operator_id, text, units, personnel_count, estimated_arrival,
	commander, contact_channel, outcome, create_time`

func scanCoordination(row pgx.Row, extra ...any) (*sinergiv1.CoordinationEntry, error) {
	c := &sinergiv1.CoordinationEntry{}
	var kind, outcome, commander, channel string
	var units []string
	var personnel int32
	var eta *time.Time
	var at time.Time
	dest := append(extra, &c.Number, &kind, &c.AuthorCode, &c.OperatorId, &c.Text, &units, &personnel, &eta,
		&commander, &channel, &outcome, &at)
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	c.Kind = sinergiv1.CoordinationKind(enumValue(sinergiv1.CoordinationKind_value, coordinationKindPrefix, kind))
	c.Outcome = sinergiv1.ReportOutcome(enumValue(sinergiv1.ReportOutcome_value, reportOutcomePrefix, outcome))
	c.CreateTime = timestamppb.New(at)
	if c.Kind == sinergiv1.CoordinationKind_COORDINATION_KIND_DISPATCH {
		c.Dispatch = &sinergiv1.Dispatch{Units: units, PersonnelCount: personnel, EstimatedArrivalTime: optTime(eta),
			Commander: commander, ContactChannel: channel}
	}
	return c, nil
}

func queueCoordination(b *pgx.Batch, id string, c *sinergiv1.CoordinationEntry) {
	d := c.GetDispatch()
	var eta *time.Time
	if t := d.GetEstimatedArrivalTime(); t != nil {
		v := t.AsTime()
		eta = &v
	}
	outcome := ""
	if c.GetOutcome() != sinergiv1.ReportOutcome_REPORT_OUTCOME_UNSPECIFIED {
		outcome = enumText(c.GetOutcome().String(), reportOutcomePrefix)
	}
	b.Queue(`INSERT INTO report_coordination (report_id, number, kind, author_code, operator_id, text, units, personnel_count,
			estimated_arrival, commander, contact_channel, outcome, create_time)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
		id, c.GetNumber(), enumText(c.GetKind().String(), coordinationKindPrefix), c.GetAuthorCode(), c.GetOperatorId(), c.GetText(),
		nonNil(d.GetUnits()), d.GetPersonnelCount(), eta, d.GetCommander(), d.GetContactChannel(), outcome, c.GetCreateTime().AsTime())
}

// EmergencyFilter selects emergency overrides.
type EmergencyFilter struct {
	// Filed in [Start, End); zero: open.
	Start, End time.Time
	// Keyset position: strictly after (BeforeSubmit, BeforeID) in the
	// order submit_time DESC, id DESC.
	BeforeSubmit time.Time
	BeforeID     string
	Limit        int
}

// EmergencyOverrides lists the reports filed with an emergency
// justification, latest first, as oversight reviews them. Oversight of
// both sides reads every one: the query takes no restriction.
func (s *Store) EmergencyOverrides(ctx context.Context, f EmergencyFilter) ([]*sinergiv1.EmergencyOverride, error) {
	conds := []string{"r.emergency_justification <> ''"}
	var args []any
	if !f.Start.IsZero() {
		args = append(args, f.Start)
		conds = append(conds, fmt.Sprintf("r.submit_time >= $%d", len(args)))
	}
	if !f.End.IsZero() {
		args = append(args, f.End)
		conds = append(conds, fmt.Sprintf("r.submit_time < $%d", len(args)))
	}
	if !f.BeforeSubmit.IsZero() {
		args = append(args, f.BeforeSubmit, f.BeforeID)
		conds = append(conds, fmt.Sprintf("(r.submit_time, r.id) < ($%d, $%d)", len(args)-1, len(args)))
	}
	args = append(args, f.Limit)
	rows, err := s.Pool.Query(ctx, `
		SELECT r.id, r.facility_code, r.kind, r.type, r.severity, r.submit_time, r.operator_id, r.emergency_justification,
			r.routing_misses, r.status
		FROM reports r
		WHERE `+strings.Join(conds, " AND ")+`
		ORDER BY r.submit_time DESC, r.id DESC
		LIMIT $`+strconv.Itoa(len(args)), args...)
	if err != nil {
		return nil, err
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*sinergiv1.EmergencyOverride, error) {
		o := &sinergiv1.EmergencyOverride{}
		var kind, typ, sev, st string
		var submit time.Time
		var misses []byte
		if err := row.Scan(&o.ReportId, &o.FacilityCode, &kind, &typ, &sev, &submit, &o.OperatorId, &o.Justification,
			&misses, &st); err != nil {
			return nil, err
		}
		o.Kind = sinergiv1.ReportKind(enumValue(sinergiv1.ReportKind_value, reportKindPrefix, kind))
		o.Type = sinergiv1.ReportType(enumValue(sinergiv1.ReportType_value, reportTypePrefix, typ))
		o.Severity = sinergiv1.ReportSeverity(enumValue(sinergiv1.ReportSeverity_value, reportSeverityPrefix, sev))
		o.Status = sinergiv1.ReportStatus(enumValue(sinergiv1.ReportStatus_value, reportStatusPrefix, st))
		o.SubmitTime = timestamppb.New(submit)
		ms, err := decodeMisses(misses)
		if err != nil {
			return nil, fmt.Errorf("routing misses of report %s: %w", o.ReportId, err)
		}
		o.RoutingMisses = ms
		return o, nil
	})
	if err != nil || len(list) == 0 {
		return list, err
	}
	byID := map[string]*sinergiv1.EmergencyOverride{}
	ids := make([]string, 0, len(list))
	for _, o := range list {
		byID[o.GetReportId()] = o
		ids = append(ids, o.GetReportId())
	}
	rrows, err := s.Pool.Query(ctx, `SELECT report_id, `+recipientColumns+` FROM report_recipients
		WHERE report_id = ANY($1) AND reason = 'EMERGENCY_OVERRIDE' ORDER BY report_id, position`, ids)
	if err != nil {
		return nil, err
	}
	defer rrows.Close()
	for rrows.Next() {
		var id string
		rc, err := scanRecipient(rrows, &id)
		if err != nil {
			return nil, err
		}
		byID[id].OverrideRecipients = append(byID[id].OverrideRecipients, rc)
	}
	return list, rrows.Err()
}
