// Command sinergi-apidoc writes the API reference (docs/api.md) from a buf
// image of proto/ and the authorization policy; internal/apidoc is the
// program. make docs runs it, and make check-docs fails when the committed
// reference differs from what it writes.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"

	"github.com/sinergi-id/sinergi/internal/apidoc"
)

func main() {
	image := flag.String("image", "", "the buf image of proto/ (buf build -o FILE), with source info")
	out := flag.String("o", "", "write here (default standard output)")
	flag.Parse()
	if *image == "" || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: sinergi-apidoc -image FILE [-o FILE]")
		os.Exit(2)
	}
	b, err := os.ReadFile(*image)
	if err == nil {
		var doc bytes.Buffer
		if err = apidoc.Write(&doc, b); err == nil {
			if *out == "" {
				_, err = os.Stdout.Write(doc.Bytes())
			} else {
				err = os.WriteFile(*out, doc.Bytes(), 0o644)
			}
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "sinergi-apidoc:", err)
		os.Exit(1)
	}
}
