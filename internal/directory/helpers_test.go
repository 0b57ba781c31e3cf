package directory

import (
	"time"

	"github.com/google/go-cmp/cmp/cmpopts"
	"google.golang.org/protobuf/types/known/timestamppb"
)

var cmpEmpty = cmpopts.EquateEmpty()

func ts(t time.Time) *timestamppb.Timestamp { return timestamppb.New(t) }
