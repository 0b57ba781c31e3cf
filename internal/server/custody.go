package server

// custodyChannel is NOTIFYed when custody events are committed.
const custodyChannel = "sinergi_custody_events"

// registerCustody registers CustodyService.
func registerCustody(s *Server) {}
