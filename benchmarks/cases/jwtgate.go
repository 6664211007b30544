package cases

// jwtgateCases are jwtgate's own cases; they join when the middleware and
// the adapters are on main.
func jwtgateCases() []Case { return nil }
