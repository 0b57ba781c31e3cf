package authz

// reportPolicy covers ReportService (intelligence reports from facilities).
// Its entries live here, beside the other tables of Policy.
var reportPolicy = map[string]Rule{}
