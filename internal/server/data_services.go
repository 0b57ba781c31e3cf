package server

// fanoutChannels are the NOTIFY channels the process listens on; each data
// service names its own in its file.
var fanoutChannels = []string{custodyChannel, custodyOrderedChannel, reportChannel, firearmsChannel, screeningChannel,
	hitNoticesChannel, hitNoticesOrderedChannel}

// registerDataServices registers the data services (custody, reports, the
// firearms register, screening); each lives in its own file beside this one.
func registerDataServices(s *Server) {
	registerCustody(s)
	registerReports(s)
	registerFirearms(s)
	registerScreening(s)
}
