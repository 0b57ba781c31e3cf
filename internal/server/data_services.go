package server

// fanoutChannels are the NOTIFY channels the process listens on; each data
// service names its own in its file.
var fanoutChannels = []string{custodyChannel, reportChannel, screeningChannel}

// registerDataServices registers the data services (custody, reports,
// screening); each lives in its own file beside this one.
func registerDataServices(s *Server) {
	registerCustody(s)
	registerReports(s)
	registerScreening(s)
}
