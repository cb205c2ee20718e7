package trace

import "strconv"

func httpStatus(s string) string {
	if s == "" || s == "0" {
		return ""
	}
	return "HTTP " + s
}

func httpStatusN(s int32) string {
	if s == 0 {
		return "got no response"
	}
	return "got HTTP " + strconv.Itoa(int(s))
}

// HumanResult is a summary's Result as people read it.
func HumanResult(r string) string {
	switch r {
	case ResultDeadLettered:
		return "dead-lettered"
	case ResultPending:
		return "not delivered yet"
	case ResultNoDeliveries:
		return "no deliveries"
	}
	return r
}
