package store

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// The database roles. None is a superuser, none can create roles or
// databases, and none is a member of another, so none can SET ROLE to one
// with more rights (migration 00008 says what each may do).
const (
	// OwnerRole owns the schema; migrations run as it.
	OwnerRole = "sinergi_owner"
	// AppRole is the server's: it reads and writes the operational tables
	// and adds to the audit trail only through sinergi_audit_append.
	AppRole = "sinergi_app"
	// IntegratorRole is the audit log's one writer.
	IntegratorRole = "sinergi_integrator"
)

// Roles are the connection strings of one database, one per role.
type Roles struct {
	Owner, App, Integrator string
}

// SetupRoles creates the three roles on the server adminURL reaches
// (which needs CREATEROLE), or makes existing ones what they must be:
// able to log in, no superuser, no role or database creation, no
// replication or row-security bypass, and members of no role. It sets no
// password: a deployment that needs one sets it itself (README).
func SetupRoles(ctx context.Context, adminURL string) error {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return fmt.Errorf("connect as database administrator: %w", err)
	}
	defer conn.Close(ctx)
	// Several test packages set up at once: one at a time.
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(hashtext('sinergi roles'))`); err != nil {
		return err
	}
	defer conn.Exec(context.Background(), `SELECT pg_advisory_unlock(hashtext('sinergi roles'))`) //nolint:errcheck
	const attrs = "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT"
	for _, role := range []string{OwnerRole, AppRole, IntegratorRole} {
		var exists bool
		if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)`, role).Scan(&exists); err != nil {
			return err
		}
		verb := "CREATE"
		if exists {
			verb = "ALTER"
		}
		if _, err := conn.Exec(ctx, verb+" ROLE "+pgx.Identifier{role}.Sanitize()+" "+attrs); err != nil {
			return fmt.Errorf("%s role %s: %w", strings.ToLower(verb), role, err)
		}
		// Take away any membership that would let it SET ROLE elsewhere.
		rows, err := conn.Query(ctx, `SELECT g.rolname FROM pg_auth_members m
			JOIN pg_roles g ON g.oid = m.roleid JOIN pg_roles u ON u.oid = m.member WHERE u.rolname = $1`, role)
		if err != nil {
			return err
		}
		groups, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		for _, g := range groups {
			if _, err := conn.Exec(ctx, "REVOKE "+pgx.Identifier{g}.Sanitize()+" FROM "+pgx.Identifier{role}.Sanitize()); err != nil {
				return fmt.Errorf("revoke %s from %s: %w", g, role, err)
			}
		}
	}
	return nil
}

// CreateOwnedDatabase creates database name owned by the owner role,
// unless it exists; an existing one is handed to the owner role with
// everything in its public schema (a database made before the roles).
// adminURL must reach the server as a superuser, and adminDBURL the
// database itself as the same user.
func CreateOwnedDatabase(ctx context.Context, adminURL, adminDBURL, name string) error {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return fmt.Errorf("connect as database administrator: %w", err)
	}
	defer conn.Close(ctx)
	var owner string
	err = conn.QueryRow(ctx, `SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = $1`, name).Scan(&owner)
	switch {
	case err == pgx.ErrNoRows:
		_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()+" OWNER "+pgx.Identifier{OwnerRole}.Sanitize())
		return err
	case err != nil:
		return err
	case owner == OwnerRole:
		return nil
	}
	return adopt(ctx, adminDBURL, name)
}

// adopt hands database name and every object in its public schema to the
// owner role.
func adopt(ctx context.Context, adminDBURL, name string) error {
	conn, err := pgx.Connect(ctx, adminDBURL)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	owner := pgx.Identifier{OwnerRole}.Sanitize()
	stmts := []string{"ALTER DATABASE " + pgx.Identifier{name}.Sanitize() + " OWNER TO " + owner}
	rows, err := conn.Query(ctx, `
		SELECT CASE c.relkind WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE 'TABLE' END,
		       format('%I', c.relname)
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'S', 'v', 'm')
		  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype IN ('a', 'i') AND c.relkind = 'S')
		UNION ALL
		SELECT 'FUNCTION', format('%I(%s)', p.proname, pg_get_function_identity_arguments(p.oid))
		FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
		WHERE n.nspname = 'public' AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var kind, obj string
		if err := rows.Scan(&kind, &obj); err != nil {
			rows.Close()
			return err
		}
		stmts = append(stmts, "ALTER "+kind+" "+obj+" OWNER TO "+owner)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	stmts = append(stmts, "ALTER SCHEMA public OWNER TO "+owner)
	for _, s := range stmts {
		if _, err := conn.Exec(ctx, s); err != nil {
			return fmt.Errorf("hand %s to %s: %s: %w", name, OwnerRole, s, err)
		}
	}
	return nil
}

// CheckLeastPrivilege refuses a login role with more power than the
// server's: a superuser, the audit trail's owner, a role that may create
// roles or databases or bypass row security, or a member of another role
// (which it could SET ROLE to). The trail's guarantees rest on the server not being able to
// rewrite it.
func (s *Store) CheckLeastPrivilege(ctx context.Context) error {
	var role string
	var super, createRole, createDB, bypass, owns bool
	var groups int
	err := s.Pool.QueryRow(ctx, `SELECT r.rolname, r.rolsuper, r.rolcreaterole, r.rolcreatedb, r.rolbypassrls,
			(SELECT count(*) FROM pg_auth_members m WHERE m.member = r.oid),
			EXISTS (SELECT 1 FROM pg_class c WHERE c.relname = 'audit_records' AND c.relowner = r.oid)
		FROM pg_roles r WHERE r.rolname = current_user`).Scan(&role, &super, &createRole, &createDB, &bypass, &groups, &owns)
	if err != nil {
		return fmt.Errorf("check the database role: %w", err)
	}
	if super || createRole || createDB || bypass || groups > 0 || owns {
		return fmt.Errorf("the server logs in as %s, which is a superuser, owns the audit trail, may create roles or databases, "+
			"bypasses row security or may SET ROLE to another role: log in as %s instead (see `sinergi db-setup`)", role, AppRole)
	}
	return nil
}
