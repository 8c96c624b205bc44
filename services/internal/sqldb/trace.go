package sqldb

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"
	"go.opentelemetry.io/otel/trace"
	"modernc.org/sqlite"
)

// The statement spans. A maintained wrapper (otelsql, otelpgx) is not
// among the modules this project may use, so this is the small part of one
// it needs: a database/sql driver.Connector whose connections put each
// statement, BEGIN, COMMIT and ROLLBACK in a client span, but only under a
// span that records (a ledger batch, a request): background work with no
// span of its own makes none, and without export the cost is one check.
//
// A span carries the statement's text, which has placeholders ($1, ?), and
// never its arguments: they hold personal data. A statement sent in the
// simple protocol (ExecScript), where pgx puts the arguments into the text
// it sends, is named "script" and carries no text at all. A failure carries
// the engine's error code only, not its message (which may quote a value).
// A query's span ends when its first rows are ready, not when they have
// been read.

const tracerName = "github.com/fidelis-loyalty/fidelis/services/internal/sqldb"

// tracing is what the spans of one pool share.
type tracing struct {
	tracer trace.Tracer
	system attribute.KeyValue
}

func newTracing(tp trace.TracerProvider, d Dialect) *tracing {
	system := semconv.DBSystemNameSQLite
	switch d {
	case Postgres:
		system = semconv.DBSystemNamePostgreSQL
	case Cockroach:
		system = semconv.DBSystemNameCockroachDB
	}
	return &tracing{tracer: tp.Tracer(tracerName), system: system}
}

// connector finds the connector of the registered driver name for dsn,
// the way sql.Open does.
func connector(name, dsn string) (driver.Connector, error) {
	db, err := sql.Open(name, "") // connects to nothing: it finds the driver
	if err != nil {
		return nil, err
	}
	d := db.Driver()
	db.Close()
	if dc, ok := d.(driver.DriverContext); ok {
		return dc.OpenConnector(dsn)
	}
	return dsnConnector{dsn: dsn, d: d}, nil
}

type dsnConnector struct {
	dsn string
	d   driver.Driver
}

func (c dsnConnector) Connect(context.Context) (driver.Conn, error) { return c.d.Open(c.dsn) }
func (c dsnConnector) Driver() driver.Driver                        { return c.d }

// statement starts a statement's span under ctx's, if that one records.
func (t *tracing) statement(ctx context.Context, query string, args []driver.NamedValue) (context.Context, trace.Span) {
	if simpleProtocol(args) {
		return t.start(ctx, "script")
	}
	return t.start(ctx, operation(query), semconv.DBQueryText(query))
}

// start starts the span of operation op under ctx's, if that one records.
func (t *tracing) start(ctx context.Context, op string, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	if !trace.SpanFromContext(ctx).IsRecording() {
		return ctx, nil
	}
	attrs = append(attrs, t.system, semconv.DBOperationName(op))
	return t.tracer.Start(ctx, op, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
}

// end ends a span start returned, with err's code if it failed.
func end(span trace.Span, err error) {
	if span == nil {
		return
	}
	if err != nil && !errors.Is(err, driver.ErrSkip) {
		span.SetStatus(codes.Error, "database error")
		if c := errorCode(err); c != "" {
			span.SetAttributes(semconv.DBResponseStatusCode(c))
		}
	}
	span.End()
}

// errorCode is the SQLSTATE of a PostgreSQL error or the result code of
// an SQLite one.
func errorCode(err error) string {
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		return pg.Code
	}
	var lite *sqlite.Error
	if errors.As(err, &lite) {
		return strconv.Itoa(lite.Code())
	}
	return ""
}

// operation is a statement's first keyword (SELECT, INSERT, WITH, ...).
func operation(query string) string {
	q := strings.TrimLeft(query, " \t\r\n(")
	if i := strings.IndexAny(q, " \t\r\n("); i >= 0 {
		q = q[:i]
	}
	if q == "" || len(q) > 16 {
		return "statement"
	}
	return strings.ToUpper(q)
}

// simpleProtocol tells whether pgx sends the statement with its arguments
// in its text.
func simpleProtocol(args []driver.NamedValue) bool {
	for _, a := range args {
		if m, ok := a.Value.(pgx.QueryExecMode); ok && m == pgx.QueryExecModeSimpleProtocol {
			return true
		}
	}
	return false
}

// tracedConnector makes connections that trace.
type tracedConnector struct {
	driver.Connector
	t *tracing
}

func (c tracedConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &tracedConn{Conn: conn, t: c.t}, nil
}

// tracedConn passes everything to the driver's connection, in spans for
// what runs SQL. What the driver does not implement it answers as
// database/sql would without it (driver.ErrSkip, or no-op).
type tracedConn struct {
	driver.Conn
	t *tracing
}

var (
	_ driver.ConnBeginTx        = (*tracedConn)(nil)
	_ driver.ConnPrepareContext = (*tracedConn)(nil)
	_ driver.ExecerContext      = (*tracedConn)(nil)
	_ driver.QueryerContext     = (*tracedConn)(nil)
	_ driver.Pinger             = (*tracedConn)(nil)
	_ driver.SessionResetter    = (*tracedConn)(nil)
	_ driver.Validator          = (*tracedConn)(nil)
	_ driver.NamedValueChecker  = (*tracedConn)(nil)
)

func (c *tracedConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	e, ok := c.Conn.(driver.ExecerContext)
	if !ok {
		return nil, driver.ErrSkip
	}
	ctx, span := c.t.statement(ctx, query, args)
	r, err := e.ExecContext(ctx, query, args)
	end(span, err)
	return r, err
}

func (c *tracedConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	q, ok := c.Conn.(driver.QueryerContext)
	if !ok {
		return nil, driver.ErrSkip
	}
	ctx, span := c.t.statement(ctx, query, args)
	r, err := q.QueryContext(ctx, query, args)
	end(span, err)
	return r, err
}

func (c *tracedConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	b, ok := c.Conn.(driver.ConnBeginTx)
	if !ok {
		return nil, errors.New("sqldb: the driver cannot begin a transaction with a context")
	}
	sctx, span := c.t.start(ctx, "BEGIN")
	tx, err := b.BeginTx(sctx, opts)
	end(span, err)
	if err != nil {
		return nil, err
	}
	return tracedTx{Tx: tx, ctx: ctx, t: c.t}, nil
}

func (c *tracedConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	if p, ok := c.Conn.(driver.ConnPrepareContext); ok {
		return p.PrepareContext(ctx, query)
	}
	return c.Prepare(query)
}

func (c *tracedConn) Ping(ctx context.Context) error {
	if p, ok := c.Conn.(driver.Pinger); ok {
		return p.Ping(ctx)
	}
	return nil
}

func (c *tracedConn) ResetSession(ctx context.Context) error {
	if r, ok := c.Conn.(driver.SessionResetter); ok {
		return r.ResetSession(ctx)
	}
	return nil
}

func (c *tracedConn) IsValid() bool {
	if v, ok := c.Conn.(driver.Validator); ok {
		return v.IsValid()
	}
	return true
}

func (c *tracedConn) CheckNamedValue(nv *driver.NamedValue) error {
	if n, ok := c.Conn.(driver.NamedValueChecker); ok {
		return n.CheckNamedValue(nv)
	}
	return driver.ErrSkip
}

// tracedTx traces the end of a transaction under the context it began
// with (driver.Tx has none of its own).
type tracedTx struct {
	driver.Tx
	ctx context.Context
	t   *tracing
}

func (x tracedTx) Commit() error {
	_, span := x.t.start(x.ctx, "COMMIT")
	err := x.Tx.Commit()
	end(span, err)
	return err
}

func (x tracedTx) Rollback() error {
	_, span := x.t.start(x.ctx, "ROLLBACK")
	err := x.Tx.Rollback()
	end(span, err)
	return err
}
