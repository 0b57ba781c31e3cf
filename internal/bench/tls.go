package bench

import (
	"crypto/tls"

	"google.golang.org/grpc/credentials"
)

func credentialsTLS(cfg *tls.Config) credentials.TransportCredentials { return credentials.NewTLS(cfg) }
