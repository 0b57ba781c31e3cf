package server

// reportChannel is NOTIFYed when report events are committed.
const reportChannel = "sinergi_report_events"

// registerReports registers ReportService.
func registerReports(s *Server) {}
