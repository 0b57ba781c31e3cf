package server_test

import (
	"testing"

	"github.com/sinergi-id/sinergi/internal/pgtest"
)

var db *pgtest.DB

func TestMain(m *testing.M) { pgtest.Main(m, &db) }
