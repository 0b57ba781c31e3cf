package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/types/known/timestamppb"

	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// TxHook runs inside a write's transaction before it commits. The audit
// trail uses it to commit a write's audit record with the write itself.
type TxHook interface {
	WriteTx(ctx context.Context, tx pgx.Tx) error
}

// Directory is everything the directory tables hold.
type Directory struct {
	Institutions []*sinergiv1.Institution
	Agreements   []*sinergiv1.Agreement
	// Revoked certificate serials (lower-case hex) and when.
	Revoked map[string]time.Time
}

// LoadDirectory reads the whole directory.
func (s *Store) LoadDirectory(ctx context.Context) (*Directory, error) {
	d := &Directory{Revoked: map[string]time.Time{}}
	err := pgx.BeginTxFunc(ctx, s.Pool, pgx.TxOptions{AccessMode: pgx.ReadOnly, IsoLevel: pgx.RepeatableRead}, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT code, name, kind, region_code, coalesce(parent_code, ''), status, create_time, update_time FROM institutions ORDER BY code`)
		if err != nil {
			return err
		}
		for rows.Next() {
			var in sinergiv1.Institution
			var kind, status string
			var ct, ut time.Time
			if err := rows.Scan(&in.Code, &in.Name, &kind, &in.RegionCode, &in.ParentCode, &status, &ct, &ut); err != nil {
				return err
			}
			in.Kind = sinergiv1.InstitutionKind(enumValue(sinergiv1.InstitutionKind_value, "INSTITUTION_KIND_", kind))
			in.Status = sinergiv1.InstitutionStatus(enumValue(sinergiv1.InstitutionStatus_value, "INSTITUTION_STATUS_", status))
			in.CreateTime, in.UpdateTime = timestamppb.New(ct), timestamppb.New(ut)
			d.Institutions = append(d.Institutions, &in)
		}
		if err := rows.Err(); err != nil {
			return err
		}

		byID := map[string]*sinergiv1.Agreement{}
		rows, err = tx.Query(ctx, `SELECT id, number, kind, title, scopes, effective_time, expire_time, sign_time, signatories, coalesce(parent_id, ''), revoke_time,
			coalesce(proposed_by, ''), confirm_time FROM agreements ORDER BY id`)
		if err != nil {
			return err
		}
		for rows.Next() {
			var a sinergiv1.Agreement
			var kind string
			var scopes []string
			var eff time.Time
			var exp, signed, revoked, confirmed *time.Time
			var proposedBy string
			if err := rows.Scan(&a.Id, &a.Number, &kind, &a.Title, &scopes, &eff, &exp, &signed, &a.Signatories, &a.ParentId, &revoked,
				&proposedBy, &confirmed); err != nil {
				return err
			}
			if proposedBy != "" {
				a.ProposedBy = sinergiv1.Side(enumValue(sinergiv1.Side_value, "SIDE_", proposedBy))
			}
			a.ConfirmTime = optTime(confirmed)
			a.Kind = sinergiv1.AgreementKind(enumValue(sinergiv1.AgreementKind_value, "AGREEMENT_KIND_", kind))
			for _, sc := range scopes {
				a.Scopes = append(a.Scopes, sinergiv1.Scope(enumValue(sinergiv1.Scope_value, "SCOPE_", sc)))
			}
			a.EffectiveTime = timestamppb.New(eff)
			a.ExpireTime = optTime(exp)
			a.SignTime = optTime(signed)
			a.RevokeTime = optTime(revoked)
			byID[a.Id] = &a
			d.Agreements = append(d.Agreements, &a)
		}
		if err := rows.Err(); err != nil {
			return err
		}

		rows, err = tx.Query(ctx, `SELECT agreement_id, coalesce(institution_code, ''), coalesce(side, ''), region_prefix FROM agreement_parties ORDER BY agreement_id, position`)
		if err != nil {
			return err
		}
		for rows.Next() {
			var id, code, side, region string
			if err := rows.Scan(&id, &code, &side, &region); err != nil {
				return err
			}
			p := &sinergiv1.Party{RegionPrefix: region}
			if code != "" {
				p.Party = &sinergiv1.Party_InstitutionCode{InstitutionCode: code}
			} else {
				p.Party = &sinergiv1.Party_Side{Side: sinergiv1.Side(enumValue(sinergiv1.Side_value, "SIDE_", side))}
			}
			if a := byID[id]; a != nil {
				a.Parties = append(a.Parties, p)
			}
		}
		if err := rows.Err(); err != nil {
			return err
		}

		rows, err = tx.Query(ctx, `SELECT serial, revoke_time FROM certificate_revocations`)
		if err != nil {
			return err
		}
		for rows.Next() {
			var serial string
			var at time.Time
			if err := rows.Scan(&serial, &at); err != nil {
				return err
			}
			d.Revoked[serial] = at
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("load directory: %w", err)
	}
	return d, nil
}

func optTime(t *time.Time) *timestamppb.Timestamp {
	if t == nil {
		return nil
	}
	return timestamppb.New(*t)
}

func tsOrNil(t *timestamppb.Timestamp) *time.Time {
	if t == nil {
		return nil
	}
	v := t.AsTime()
	return &v
}

// SeedDirectory inserts the institutions and agreements that are not in
// the directory yet, in one transaction with the seed's audit record
// (hook): it never changes one that is (a suspension stays suspended, a
// revocation revoked). The caller has refused a seed that differs from
// what is there (directory.SeedFile.Resolve). Institutions are written
// parents first, agreements MoUs first. It returns what it inserted.
func (s *Store) SeedDirectory(ctx context.Context, hook SubjectTxHook, insts []*sinergiv1.Institution, agrs []*sinergiv1.Agreement, operator string) (inserted []string, err error) {
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		inserted = nil
		for _, in := range parentsFirst(insts) {
			tag, err := tx.Exec(ctx, `INSERT INTO institutions (code, name, kind, region_code, parent_code, status) VALUES ($1, $2, $3, $4, $5, $6)
				ON CONFLICT (code) DO NOTHING`,
				in.GetCode(), in.GetName(), enumText(in.GetKind().String(), "INSTITUTION_KIND_"), in.GetRegionCode(),
				nullIfEmpty(in.GetParentCode()), institutionStatusText(in.GetStatus()))
			if err != nil {
				return fmt.Errorf("institution %s: %w", in.GetCode(), err)
			}
			if tag.RowsAffected() == 1 {
				inserted = append(inserted, "institution/"+in.GetCode())
			}
		}
		for _, a := range parentAgreementsFirst(agrs) {
			ok, err := insertAgreement(ctx, tx, a, operator, true)
			if err != nil {
				return fmt.Errorf("agreement %s: %w", a.GetId(), err)
			}
			if ok {
				inserted = append(inserted, "agreement/"+a.GetId())
			}
		}
		hook.AddSubjects(inserted...)
		return hook.WriteTx(ctx, tx)
	})
	return inserted, err
}

func parentsFirst(insts []*sinergiv1.Institution) []*sinergiv1.Institution {
	byCode := map[string]*sinergiv1.Institution{}
	for _, in := range insts {
		byCode[in.GetCode()] = in
	}
	var out []*sinergiv1.Institution
	done := map[string]bool{}
	var visit func(in *sinergiv1.Institution)
	visit = func(in *sinergiv1.Institution) {
		if done[in.GetCode()] {
			return
		}
		done[in.GetCode()] = true
		if p := byCode[in.GetParentCode()]; p != nil {
			visit(p)
		}
		out = append(out, in)
	}
	for _, in := range insts {
		visit(in)
	}
	return out
}

func parentAgreementsFirst(agrs []*sinergiv1.Agreement) []*sinergiv1.Agreement {
	var out, rest []*sinergiv1.Agreement
	for _, a := range agrs {
		if a.GetParentId() == "" {
			out = append(out, a)
		} else {
			rest = append(rest, a)
		}
	}
	return append(out, rest...)
}

func nullIfEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func institutionStatusText(st sinergiv1.InstitutionStatus) string {
	if st == sinergiv1.InstitutionStatus_INSTITUTION_STATUS_UNSPECIFIED {
		st = sinergiv1.InstitutionStatus_INSTITUTION_STATUS_ACTIVE
	}
	return enumText(st.String(), "INSTITUTION_STATUS_")
}

func agreementArgs(a *sinergiv1.Agreement, operator string) []any {
	scopes := make([]string, 0, len(a.GetScopes()))
	for _, sc := range a.GetScopes() {
		scopes = append(scopes, enumText(sc.String(), "SCOPE_"))
	}
	signatories := a.GetSignatories()
	if signatories == nil {
		signatories = []string{}
	}
	var proposedBy *string
	if a.GetProposedBy() != sinergiv1.Side_SIDE_UNSPECIFIED {
		s := enumText(a.GetProposedBy().String(), "SIDE_")
		proposedBy = &s
	}
	return []any{a.GetId(), a.GetNumber(), enumText(a.GetKind().String(), "AGREEMENT_KIND_"), a.GetTitle(), scopes,
		a.GetEffectiveTime().AsTime(), tsOrNil(a.GetExpireTime()), tsOrNil(a.GetSignTime()), signatories,
		nullIfEmpty(a.GetParentId()), proposedBy, operator}
}

// insertAgreement inserts a with its parties; with skipExisting an
// agreement whose id is taken is left alone (ok false), else ErrConflict.
func insertAgreement(ctx context.Context, tx pgx.Tx, a *sinergiv1.Agreement, operator string, skipExisting bool) (ok bool, err error) {
	q := `INSERT INTO agreements (id, number, kind, title, scopes, effective_time, expire_time, sign_time, signatories, parent_id, proposed_by, create_operator)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`
	if skipExisting {
		q += ` ON CONFLICT (id) DO NOTHING`
	}
	tag, err := tx.Exec(ctx, q, agreementArgs(a, operator)...)
	if isUniqueViolation(err) {
		return false, ErrConflict
	}
	if err != nil || tag.RowsAffected() == 0 {
		return false, err
	}
	return true, insertParties(ctx, tx, a)
}

func insertParties(ctx context.Context, tx pgx.Tx, a *sinergiv1.Agreement) error {
	for i, p := range a.GetParties() {
		var code, side *string
		if c := p.GetInstitutionCode(); c != "" {
			code = &c
		} else {
			s := enumText(p.GetSide().String(), "SIDE_")
			side = &s
		}
		if _, err := tx.Exec(ctx, `INSERT INTO agreement_parties (agreement_id, position, institution_code, side, region_prefix) VALUES ($1, $2, $3, $4, $5)`,
			a.GetId(), i, code, side, p.GetRegionPrefix()); err != nil {
			return err
		}
	}
	return nil
}

// CreateInstitution inserts a new institution; ErrConflict when the code is taken.
func (s *Store) CreateInstitution(ctx context.Context, hook TxHook, in *sinergiv1.Institution) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO institutions (code, name, kind, region_code, parent_code, status) VALUES ($1, $2, $3, $4, $5, $6)`,
			in.GetCode(), in.GetName(), enumText(in.GetKind().String(), "INSTITUTION_KIND_"), in.GetRegionCode(),
			nullIfEmpty(in.GetParentCode()), institutionStatusText(in.GetStatus()))
		if isUniqueViolation(err) {
			return ErrConflict
		}
		if err != nil {
			return err
		}
		return hook.WriteTx(ctx, tx)
	})
}

// SetInstitutionStatus changes an institution's status; ErrNotFound when it does not exist.
func (s *Store) SetInstitutionStatus(ctx context.Context, hook TxHook, code string, st sinergiv1.InstitutionStatus) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE institutions SET status = $2, update_time = now() WHERE code = $1`, code, institutionStatusText(st))
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return ErrNotFound
		}
		return hook.WriteTx(ctx, tx)
	})
}

// CreateAgreement inserts a new agreement, registered by operator;
// ErrConflict when the id is taken.
func (s *Store) CreateAgreement(ctx context.Context, hook TxHook, a *sinergiv1.Agreement, operator string) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := insertAgreement(ctx, tx, a, operator, false); err != nil {
			return err
		}
		return hook.WriteTx(ctx, tx)
	})
}

// ConfirmAgreement records that operator confirmed pending agreement id at
// at; check sees the agreement's standing (its proposing side, whether it
// is confirmed or revoked) under its row lock and may refuse. ErrNotFound
// when there is no such agreement.
func (s *Store) ConfirmAgreement(ctx context.Context, hook TxHook, id, operator string, at time.Time, check func(proposedBy sinergiv1.Side, confirmed, revoked bool) error) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		var proposedBy string
		var confirmed, revoked *time.Time
		err := tx.QueryRow(ctx, `SELECT coalesce(proposed_by, ''), confirm_time, revoke_time FROM agreements WHERE id = $1 FOR UPDATE`, id).
			Scan(&proposedBy, &confirmed, &revoked)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		side := sinergiv1.Side_SIDE_UNSPECIFIED
		if proposedBy != "" {
			side = sinergiv1.Side(enumValue(sinergiv1.Side_value, "SIDE_", proposedBy))
		}
		if err := check(side, confirmed != nil, revoked != nil); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE agreements SET confirm_time = $2, confirm_operator = $3 WHERE id = $1`, id, at, operator); err != nil {
			return err
		}
		return hook.WriteTx(ctx, tx)
	})
}

// RevokeAgreement revokes agreement id, and every agreement made under it
// (a PKS under an MoU, and so on down), from at on, by operator; an
// agreement already revoked keeps its revocation. It returns the ids it
// revoked besides id, and ErrNotFound when there is no such agreement.
func (s *Store) RevokeAgreement(ctx context.Context, hook SubjectTxHook, id, operator string, at time.Time) (cascaded []string, err error) {
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		cascaded = nil
		rows, err := tx.Query(ctx, `
			WITH RECURSIVE tree (id) AS (
				SELECT id FROM agreements WHERE id = $1
				UNION SELECT a.id FROM agreements a JOIN tree t ON a.parent_id = t.id)
			SELECT a.id, a.revoke_time IS NOT NULL FROM agreements a JOIN tree USING (id) ORDER BY a.id FOR UPDATE OF a`, id)
		if err != nil {
			return err
		}
		type node struct {
			id      string
			revoked bool
		}
		nodes, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (node, error) {
			var n node
			err := r.Scan(&n.id, &n.revoked)
			return n, err
		})
		if err != nil {
			return err
		}
		if len(nodes) == 0 {
			return ErrNotFound
		}
		var revoke []string
		for _, n := range nodes {
			if n.revoked {
				continue
			}
			revoke = append(revoke, n.id)
			if n.id != id {
				cascaded = append(cascaded, n.id)
			}
		}
		if len(revoke) > 0 {
			if _, err := tx.Exec(ctx, `UPDATE agreements SET revoke_time = $2, revoke_operator = $3 WHERE id = ANY($1) AND revoke_time IS NULL`,
				revoke, at, operator); err != nil {
				return err
			}
		}
		for _, c := range cascaded {
			hook.AddSubjects("agreement/" + c)
		}
		return hook.WriteTx(ctx, tx)
	})
	return cascaded, err
}
