package catalog_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/surgehq/surge/pkg/catalog"
)

const whsec = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

func TestSourceValidate(t *testing.T) {
	okLoader := catalog.Loader{URL: "https://shop.example/rest/V1/orders/{id}", TimeoutMS: 2000, CacheTTLS: 60}
	tests := []struct {
		name      string
		in        catalog.Source
		wantField string // "" = valid
	}{
		{"default source", catalog.DefaultSource(), ""},
		{"standard webhooks", catalog.Source{ID: "akeneo", Signature: &catalog.Signature{Scheme: catalog.SchemeStandardWebhooks, Secret: whsec, ToleranceS: 600}}, ""},
		{"hmac hex", catalog.Source{ID: "shop", Signature: &catalog.Signature{Scheme: catalog.SchemeHMACSHA256Hex, Header: "X-Shop-Signature", Secret: "k"}}, ""},
		{"hmac base64 with timestamp", catalog.Source{ID: "shop", Signature: &catalog.Signature{Scheme: catalog.SchemeHMACSHA256Base64, Secret: "k", TimestampHeader: "X-Timestamp", ToleranceS: 60}}, ""},
		{"with loaders", catalog.Source{ID: "shop", AllowUnsigned: true, Loaders: map[string]catalog.Loader{"order": okLoader}}, ""},

		{"empty id", catalog.Source{AllowUnsigned: true}, "id"},
		{"id with slash", catalog.Source{ID: "a/b", AllowUnsigned: true}, "id"},
		{"unsigned without opt-in", catalog.Source{ID: "shop"}, "signature"},
		{"signed and allow_unsigned", catalog.Source{ID: "shop", AllowUnsigned: true, Signature: &catalog.Signature{Scheme: catalog.SchemeHMACSHA256Hex, Secret: "k"}}, "allow_unsigned"},
		{"unknown scheme", catalog.Source{ID: "s", Signature: &catalog.Signature{Scheme: "md5", Secret: "k"}}, "signature.scheme"},
		{"empty scheme", catalog.Source{ID: "s", Signature: &catalog.Signature{Secret: "k"}}, "signature.scheme"},
		{"empty hmac secret", catalog.Source{ID: "s", Signature: &catalog.Signature{Scheme: catalog.SchemeHMACSHA256Hex}}, "signature.secret"},
		{"empty whsec secret", catalog.Source{ID: "s", Signature: &catalog.Signature{Scheme: catalog.SchemeStandardWebhooks}}, "signature.secret"},
		{"whsec without prefix", catalog.Source{ID: "s", Signature: &catalog.Signature{Scheme: catalog.SchemeStandardWebhooks, Secret: "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}}, "signature.secret"},
		{"whsec not base64", catalog.Source{ID: "s", Signature: &catalog.Signature{Scheme: catalog.SchemeStandardWebhooks, Secret: "whsec_not*base64"}}, "signature.secret"},
		{"whsec too short", catalog.Source{ID: "s", Signature: &catalog.Signature{Scheme: catalog.SchemeStandardWebhooks, Secret: "whsec_AAAA"}}, "signature.secret"},
		{"whsec with header", catalog.Source{ID: "s", Signature: &catalog.Signature{Scheme: catalog.SchemeStandardWebhooks, Secret: whsec, Header: "X-Sig"}}, "signature.header"},
		{"negative tolerance", catalog.Source{ID: "s", Signature: &catalog.Signature{Scheme: catalog.SchemeStandardWebhooks, Secret: whsec, ToleranceS: -1}}, "signature.tolerance_s"},
		{"tolerance without timestamp header", catalog.Source{ID: "s", Signature: &catalog.Signature{Scheme: catalog.SchemeHMACSHA256Hex, Secret: "k", ToleranceS: 60}}, "signature.tolerance_s"},
		{"bad header name", catalog.Source{ID: "s", Signature: &catalog.Signature{Scheme: catalog.SchemeHMACSHA256Hex, Secret: "k", Header: "X Sig"}}, "signature.header"},
		{"loader without {id}", catalog.Source{ID: "s", AllowUnsigned: true, Loaders: map[string]catalog.Loader{"order": {URL: "https://shop.example/rest/V1/orders"}}}, "loaders.order.url"},
		{"loader empty url", catalog.Source{ID: "s", AllowUnsigned: true, Loaders: map[string]catalog.Loader{"order": {}}}, "loaders.order.url"},
		{"loader relative url", catalog.Source{ID: "s", AllowUnsigned: true, Loaders: map[string]catalog.Loader{"order": {URL: "/orders/{id}"}}}, "loaders.order.url"},
		{"loader ftp url", catalog.Source{ID: "s", AllowUnsigned: true, Loaders: map[string]catalog.Loader{"order": {URL: "ftp://shop.example/{id}"}}}, "loaders.order.url"},
		{"loader negative timeout", catalog.Source{ID: "s", AllowUnsigned: true, Loaders: map[string]catalog.Loader{"order": {URL: okLoader.URL, TimeoutMS: -5}}}, "loaders.order.timeout_ms"},
		{"loader negative ttl", catalog.Source{ID: "s", AllowUnsigned: true, Loaders: map[string]catalog.Loader{"order": {URL: okLoader.URL, CacheTTLS: -1}}}, "loaders.order.cache_ttl_s"},
		{"tolerance over a day", catalog.Source{ID: "s", Signature: &catalog.Signature{Scheme: catalog.SchemeStandardWebhooks, Secret: whsec, ToleranceS: catalog.MaxToleranceS + 1}}, "signature.tolerance_s"},
		{"loader timeout over a minute", catalog.Source{ID: "s", AllowUnsigned: true, Loaders: map[string]catalog.Loader{"order": {URL: okLoader.URL, TimeoutMS: catalog.MaxLoaderTimeoutMS + 1}}}, "loaders.order.timeout_ms"},
		{"loader ttl over a day", catalog.Source{ID: "s", AllowUnsigned: true, Loaders: map[string]catalog.Loader{"order": {URL: okLoader.URL, CacheTTLS: catalog.MaxCacheTTLS + 1}}}, "loaders.order.cache_ttl_s"},
		{"loader bad header", catalog.Source{ID: "s", AllowUnsigned: true, Loaders: map[string]catalog.Loader{"order": {URL: okLoader.URL, Headers: map[string]string{"Bad Header": "x"}}}}, "loaders.order.headers"},
		{"loader bad entity type", catalog.Source{ID: "s", AllowUnsigned: true, Loaders: map[string]catalog.Loader{"Order": okLoader}}, "loaders.Order"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkField(t, tc.in.Validate(), tc.wantField)
		})
	}
}

func TestSourceValidateDoesNotLeakSecret(t *testing.T) {
	secret := "whsec_c2VjcmV0"
	err := catalog.Source{ID: "s", Signature: &catalog.Signature{Scheme: catalog.SchemeStandardWebhooks, Secret: secret}}.Validate()
	if err == nil || strings.Contains(err.Error(), "c2VjcmV0") {
		t.Fatalf("error %v", err)
	}
}

func TestSourceJSON(t *testing.T) {
	in := `{"id":"shop","signature":{"scheme":"hmac-sha256-hex","header":"X-Shop-Signature","secret":"k","tolerance_s":0},
		"loaders":{"order":{"url":"https://shop.example/rest/V1/orders/{id}","headers":{"Authorization":"Bearer t"},"timeout_ms":2000,"cache_ttl_s":60}}}`
	var got catalog.Source
	if err := json.Unmarshal([]byte(in), &got); err != nil {
		t.Fatal(err)
	}
	want := catalog.Source{
		ID:        "shop",
		Signature: &catalog.Signature{Scheme: catalog.SchemeHMACSHA256Hex, Header: "X-Shop-Signature", Secret: "k"},
		Loaders: map[string]catalog.Loader{"order": {
			URL: "https://shop.example/rest/V1/orders/{id}", Headers: map[string]string{"Authorization": "Bearer t"},
			TimeoutMS: 2000, CacheTTLS: 60}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("decoded %+v, want %+v", got, want)
	}
	if err := got.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestSourceRedacted(t *testing.T) {
	src := catalog.Source{
		ID:        "shop",
		Signature: &catalog.Signature{Scheme: catalog.SchemeHMACSHA256Hex, Secret: "top-secret"},
		Loaders:   map[string]catalog.Loader{"order": {URL: "https://x/{id}", Headers: map[string]string{"Authorization": "Bearer t"}}},
	}
	red := src.Redacted()
	b, _ := json.Marshal(red)
	if strings.Contains(string(b), "top-secret") || strings.Contains(string(b), "Bearer t") {
		t.Fatalf("redacted source leaks: %s", b)
	}
	if src.Signature.Secret != "top-secret" || src.Loaders["order"].Headers["Authorization"] != "Bearer t" {
		t.Fatal("Redacted changed the original")
	}
}

func TestSignatureAndLoaderDefaults(t *testing.T) {
	sig := &catalog.Signature{Scheme: catalog.SchemeHMACSHA256Hex, Secret: "k"}
	if sig.Tolerance() != 300*time.Second || sig.HeaderName() != "X-Signature" {
		t.Errorf("defaults: %v %q", sig.Tolerance(), sig.HeaderName())
	}
	sig.ToleranceS, sig.Header = 30, "X-Hub"
	if sig.Tolerance() != 30*time.Second || sig.HeaderName() != "X-Hub" {
		t.Errorf("set: %v %q", sig.Tolerance(), sig.HeaderName())
	}
	l := catalog.Loader{URL: "https://shop.example/rest/V1/products/{id}"}
	if l.Timeout() != 2*time.Second || l.CacheTTL() != 0 {
		t.Errorf("loader defaults: %v %v", l.Timeout(), l.CacheTTL())
	}
	if got := l.URLFor("SKU 1/2"); got != "https://shop.example/rest/V1/products/SKU%201%2F2" {
		t.Errorf("URLFor = %q", got)
	}
}

func TestSourceSet(t *testing.T) {
	var _ catalog.Sources = catalog.StaticSources{}
	var _ catalog.Sources = &catalog.SourceSet{}

	static := catalog.StaticSources{"default": catalog.DefaultSource()}
	if src, ok := static.Source("default"); !ok || src.ID != "default" {
		t.Fatalf("static lookup: %v %v", src, ok)
	}

	set, err := catalog.NewSourceSet(catalog.DefaultSource())
	if err != nil {
		t.Fatal(err)
	}
	shop := catalog.Source{ID: "shop", Signature: &catalog.Signature{Scheme: catalog.SchemeHMACSHA256Hex, Secret: "k"}}
	if err := set.Put(shop); err != nil {
		t.Fatal(err)
	}
	shop.Signature.Secret = "changed by the caller"
	if got, _ := set.Source("shop"); got.Signature.Secret != "k" {
		t.Error("the set shares the caller's signature")
	}
	checkField(t, set.Put(catalog.Source{ID: "bad"}), "signature")
	if _, ok := set.Source("bad"); ok {
		t.Error("an invalid source was stored")
	}
	if got := set.List(); len(got) != 2 || got[0].ID != "default" || got[1].ID != "shop" {
		t.Errorf("List = %v", got)
	}
	if !set.Delete("shop") || set.Delete("shop") {
		t.Error("Delete does not report existence")
	}
	if _, err := catalog.NewSourceSet(catalog.Source{ID: ""}); err == nil {
		t.Error("NewSourceSet accepted an invalid source")
	}
}
