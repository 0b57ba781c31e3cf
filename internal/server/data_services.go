package server

// registerDataServices registers the data services (custody, reports) that
// go through the same chain. Each data service adds its line here.
func registerDataServices(s *Server) {}
