package api

import (
	"strings"
	"unicode/utf8"

	"github.com/sinergi-id/sinergi/internal/store"
	"github.com/sinergi-id/sinergi/internal/validate"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// hitReferenceMax bounds a hit reference (a sealed id and expiry: about 150 bytes).
const hitReferenceMax = 512

func checkHitRequestID(v *validate.Violations, field, id string) {
	if !store.IsReportID(id) {
		v.Add(field, "required: a hit request id")
	}
}

func init() {
	validate.Register(func(r *sinergiv1.RequestHitRecordRequest, v *validate.Violations) {
		switch ref := r.GetHitReference(); {
		case ref == "":
			v.Add("hit_reference", "required: the hit reference CheckPresence gave this unit (check presence first)")
		case len(ref) > hitReferenceMax:
			v.Add("hit_reference", "%s", "not a hit reference issued to this unit (altered, or another unit's)")
		}
		custodyEnum(v, "urgency", r.GetUrgency(), sinergiv1.HitUrgency_name, true)
		custodyText(v, "reason", r.GetReason(), custodyMaxNote, true)
		if n := utf8.RuneCountInString(strings.TrimSpace(r.GetReason())); n > 0 && n < 10 {
			v.Add("reason", "say why the record is needed, in at least 10 characters")
		}
	})
	validate.Register(func(r *sinergiv1.GetHitRequestRequest, v *validate.Violations) {
		checkHitRequestID(v, "id", r.GetId())
	})
	validate.Register(func(r *sinergiv1.AnswerHitRequestRequest, v *validate.Violations) {
		checkHitRequestID(v, "id", r.GetId())
		custodyEnum(v, "answer", r.GetAnswer(), sinergiv1.HitAnswer_name, true)
		switch {
		case r.GetAnswer() == sinergiv1.HitAnswer_HIT_ANSWER_DENY:
			custodyText(v, "deny_reason", r.GetDenyReason(), custodyMaxNote, true)
		case r.GetDenyReason() != "":
			v.Add("deny_reason", "only with answer DENY")
		}
	})
	// A cursor is checked when opened (the default bound holds it).
	validate.Register(func(*sinergiv1.WatchHitNoticesRequest, *validate.Violations) {})
}
