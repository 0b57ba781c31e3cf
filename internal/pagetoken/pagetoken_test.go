package pagetoken

import (
	"errors"
	"fmt"
	"sync"
	"testing"
)

type pos struct {
	Code string `json:"c"`
}

func TestRoundTripAndTamper(t *testing.T) {
	s := New([]byte("k1"))
	tok, err := s.Seal("institutions|kind=LAPAS", pos{Code: "lapas-metro"})
	if err != nil {
		t.Fatal(err)
	}
	var got pos
	if err := s.Open(tok, "institutions|kind=LAPAS", &got); err != nil || got.Code != "lapas-metro" {
		t.Fatalf("Open = %v, %+v", err, got)
	}
	if err := s.Open(tok, "institutions|kind=LPKA", &got); !errors.Is(err, ErrInvalid) {
		t.Errorf("token for another query accepted: %v", err)
	}
	if err := New([]byte("k2")).Open(tok, "institutions|kind=LAPAS", &got); !errors.Is(err, ErrInvalid) {
		t.Errorf("token sealed with another key accepted: %v", err)
	}
	b := []byte(tok)
	b[3] ^= 1
	if err := s.Open(string(b), "institutions|kind=LAPAS", &got); !errors.Is(err, ErrInvalid) {
		t.Errorf("tampered token accepted: %v", err)
	}
}

func FuzzOpen(f *testing.F) {
	s := New([]byte("key"))
	good, _ := s.Seal("q", pos{Code: "x"})
	f.Add(good)
	f.Add("")
	f.Add("!!!")
	f.Add(good[:len(good)-2])
	f.Fuzz(func(t *testing.T, tok string) {
		var p pos
		if err := s.Open(tok, "q", &p); err == nil {
			// Whatever opens must reseal to something that opens to the same position.
			again, _ := s.Seal("q", p)
			var q pos
			if err := s.Open(again, "q", &q); err != nil || q != p {
				t.Fatalf("reseal of %q failed", tok)
			}
		}
	})
}

// TestConcurrentSealers: tokens sealed and opened at once from many
// goroutines (the MACs are reused between them) each open to their own
// position, and a token altered by one byte is still refused.
func TestConcurrentSealers(t *testing.T) {
	s := New([]byte("a key of thirty-two bytes, enough"))
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				want := g*1000 + i
				tok, err := s.Seal("q", want)
				if err != nil {
					errs <- err
					return
				}
				var got int
				if err := s.Open(tok, "q", &got); err != nil || got != want {
					errs <- fmt.Errorf("token of %d opened to %d, %v", want, got, err)
					return
				}
				bad := []byte(tok)
				bad[len(bad)/2] ^= 1
				if err := s.Open(string(bad), "q", &got); err == nil {
					errs <- fmt.Errorf("an altered token of %d opened", want)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
