// Package deploy holds the tests of jwtgate's deployment artefacts: the
// Helm chart in helm/jwtgate is linted and rendered with the helm binary,
// and every rendered manifest is decoded strictly into the k8s.io/api types.
//
// It is a module of its own so that k8s.io never enters the root go.mod: a
// user of the middleware or the gateway links none of it.
package deploy
