package subscription

import (
	"fmt"
	"net"
	"net/netip"
	"syscall"
)

// Class is the kind of address range an IP address is in, as far as the
// SSRF rules care. The zero value is a public address.
type Class string

// Address classes the SSRF rules refuse unless allowed.
const (
	Public      Class = ""
	Loopback    Class = "loopback"
	Private     Class = "private"
	LinkLocal   Class = "link-local"
	Unspecified Class = "unspecified"
	Multicast   Class = "multicast"
	CGNAT       Class = "shared (CGNAT)"
)

var (
	cgnat         = netip.MustParsePrefix("100.64.0.0/10")
	thisNetwork   = netip.MustParsePrefix("0.0.0.0/8")
	nat64         = netip.MustParsePrefix("64:ff9b::/96")
	metadataIPv4  = netip.MustParseAddr("169.254.169.254")
	metadataIPv6  = netip.MustParseAddr("fd00:ec2::254")
	classExamples = map[Class]string{
		Loopback:    "127.0.0.0/8, ::1, localhost",
		Private:     "10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, fc00::/7",
		LinkLocal:   "169.254.0.0/16, fe80::/10",
		Unspecified: "0.0.0.0/8, ::",
		Multicast:   "224.0.0.0/4, ff00::/8",
		CGNAT:       "100.64.0.0/10",
	}
)

// ParseAddr parses an IP address in standard notation, as a URL host
// gives it (brackets already removed; an IPv6 zone is kept).
func ParseAddr(host string) (netip.Addr, error) { return netip.ParseAddr(host) }

// Classify says which range a is in. IPv4-mapped IPv6 addresses
// (::ffff:a.b.c.d) and NAT64 addresses (64:ff9b::a.b.c.d) are classified
// by the IPv4 address they carry.
func Classify(a netip.Addr) Class {
	a = a.WithZone("").Unmap()
	if a.Is6() && nat64.Contains(a) {
		b := a.As16()
		a = netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]})
	}
	switch {
	case a.IsLoopback():
		return Loopback
	case a.IsUnspecified(), a.Is4() && thisNetwork.Contains(a):
		return Unspecified
	case a.IsLinkLocalUnicast():
		return LinkLocal
	case a.IsMulticast(), a.IsLinkLocalMulticast(), a.IsInterfaceLocalMulticast():
		return Multicast
	case a.IsPrivate():
		return Private
	case cgnat.Contains(a):
		return CGNAT
	}
	return Public
}

// AddrError is the refusal of a target address by the SSRF rules.
type AddrError struct {
	Addr  netip.Addr
	Class Class
}

func (e *AddrError) Error() string {
	what := fmt.Sprintf("a %s address (%s)", e.Class, classExamples[e.Class])
	if a := e.Addr.WithZone("").Unmap(); a == metadataIPv4 || a == metadataIPv6 {
		what += ", the cloud instance metadata service"
	}
	hint := `set "allow_private": true on the subscription if this endpoint is meant to be reached on an internal network`
	if e.Class == Loopback {
		hint += " (surge dev allows loopback targets without it)"
	}
	return what + ": webhook targets in loopback, private, link-local, CGNAT, multicast and unspecified ranges are refused to prevent server-side request forgery (SSRF); " + hint
}

// DialControl is a net.Dialer's Control that applies CheckAddr to every
// address dialled: it runs on each socket after DNS and before connect,
// so the address checked is the one connected to (DNS rebinding is
// caught).
func DialControl(allowPrivate, allowLoopback bool) func(network, address string, c syscall.RawConn) error {
	return func(_, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return fmt.Errorf("checking address %q: %w", address, err)
		}
		return CheckAddr(ap.Addr(), allowPrivate, allowLoopback)
	}
}

// CheckAddr applies the SSRF rules to one target address: a public address
// passes; any other passes only with allowPrivate, or, for loopback, with
// allowLoopback. The error is an *AddrError. The dispatcher applies the
// same rules to the addresses it dials.
func CheckAddr(a netip.Addr, allowPrivate, allowLoopback bool) error {
	if err := checkClass(Classify(a), allowPrivate, allowLoopback); err != nil {
		err.(*AddrError).Addr = a
		return err
	}
	return nil
}

func checkClass(c Class, allowPrivate, allowLoopback bool) error {
	switch {
	case c == Public, allowPrivate, c == Loopback && allowLoopback:
		return nil
	}
	return &AddrError{Class: c}
}

// addrFromIP converts a resolver's net.IP, whose IPv4 addresses come in
// 16-byte form, so they print as a.b.c.d.
func addrFromIP(ip net.IP) (netip.Addr, bool) {
	a, ok := netip.AddrFromSlice(ip)
	return a.Unmap(), ok
}
