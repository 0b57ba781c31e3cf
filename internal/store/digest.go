package store

import (
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"io/fs"
)

type digest struct{ h hash.Hash }

func newDigest() *digest { return &digest{h: sha256.New()} }

func (d *digest) add(name string, b []byte) {
	d.h.Write([]byte(name))
	d.h.Write([]byte{0})
	d.h.Write(b)
	d.h.Write([]byte{0})
}

func (d *digest) hex() string { return hex.EncodeToString(d.h.Sum(nil))[:12] }

func mustSub(f fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(f, dir)
	if err != nil {
		panic(err)
	}
	return sub
}
