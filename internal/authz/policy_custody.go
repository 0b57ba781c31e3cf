package authz

// custodyPolicy covers CustodyService (custody records, events, presence,
// watch lists). Its entries live here, beside the other tables of Policy.
var custodyPolicy = map[string]Rule{}
