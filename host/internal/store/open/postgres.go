package open

import (
	"context"
	"errors"

	"github.com/wtbench/wtb/host/internal/store"
)

func openPostgres(_ context.Context, url string) (store.Store, error) {
	return nil, errors.New("PostgreSQL support is not built in yet: " + store.Redact(url))
}
