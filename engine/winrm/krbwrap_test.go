package winrm

import (
	"bytes"
	"crypto/rand"
	"testing"

	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/crypto/common"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/types"
)

func TestSealedTokensAreRFC3961AndRoundTripBetweenInitiatorAndAcceptorForEveryLength(t *testing.T) {
	for _, kt := range []int32{17, 18, 19, 20} {
		var size int
		switch kt {
		case 17, 19:
			size = 16
		default:
			size = 32
		}
		key := types.EncryptionKey{KeyType: kt, KeyValue: make([]byte, size)}
		_, _ = rand.Read(key.KeyValue)
		for _, n := range []int{0, 1, 15, 16, 17, 31, 32, 100, 8000} {
			ini, err := newKrbSeal(key, false, true, 7, 9)
			if err != nil {
				t.Fatal(err)
			}
			acc, err := newKrbSeal(key, true, true, 9, 7)
			if err != nil {
				t.Fatal(err)
			}
			msg := make([]byte, n)
			_, _ = rand.Read(msg)
			// The fast path's ciphertext is what gokrb5's RFC 3961 code reads.
			ct, err := ini.encrypt(msg, []byte("0123456789abcdef"))
			if err != nil {
				t.Fatal(err)
			}
			if plain, err := ini.et.DecryptMessage(key.KeyValue, ct, keyusage.GSSAPI_INITIATOR_SEAL); err != nil || !bytes.Equal(plain[:n], msg) {
				t.Fatalf("etype %d, %d bytes: gokrb5 does not read the ciphertext: %v", kt, n, err)
			}
			// And what gokrb5 encrypts, the fast path reads.
			_, theirs, err := acc.et.EncryptMessage(key.KeyValue, append(append([]byte(nil), msg...), "0123456789abcdef"...), keyusage.GSSAPI_INITIATOR_SEAL)
			if err != nil {
				t.Fatal(err)
			}
			if plain, err := acc.decrypt(theirs); err != nil || !bytes.Equal(plain[:n], msg) {
				t.Fatalf("etype %d, %d bytes: gokrb5's ciphertext does not decrypt: %v", kt, n, err)
			}
			for range 2 { // the sequence numbers advance
				head, data, err := ini.seal(msg)
				if err != nil {
					t.Fatal(err)
				}
				if len(data) != n {
					t.Fatalf("etype %d: the data part is %d bytes for a %d-byte message", kt, len(data), n)
				}
				got, err := acc.unseal(head, data)
				if err != nil || !bytes.Equal(got, msg) {
					t.Fatalf("etype %d, %d bytes: unseal: %v", kt, n, err)
				}
			}
			// A reflected token (sent back to its sender) is refused.
			head, data, _ := ini.seal(msg)
			if _, err := ini.unseal(head, data); err == nil {
				t.Fatalf("etype %d: a token was accepted by its own sender", kt)
			}
		}
	}
}

func TestTheFastKeyDerivationIsRFC3961s(t *testing.T) {
	for _, size := range []int{16, 32} {
		key := make([]byte, size)
		_, _ = rand.Read(key)
		et, _ := crypto.GetEtype(map[int]int32{16: 17, 32: 18}[size])
		for _, u := range []uint32{keyusage.GSSAPI_ACCEPTOR_SEAL, keyusage.GSSAPI_INITIATOR_SEAL} {
			for _, ki := range []bool{false, true} {
				got, err := deriveAES(key, u, ki)
				if err != nil {
					t.Fatal(err)
				}
				c := common.GetUsageKe(u)
				if ki {
					c = common.GetUsageKi(u)
				}
				want, err := et.DeriveKey(key, c)
				if err != nil || !bytes.Equal(got, want) {
					t.Fatalf("key %d bytes, usage %d, integrity %v: %x, gokrb5 %x (%v)", size, u, ki, got, want, err)
				}
			}
		}
	}
}
