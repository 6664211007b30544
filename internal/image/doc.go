// Package image holds the test of jwtgate's container image (the
// Dockerfile at the module root): it builds the final stage with podman
// from a binary built in the test, checks the image's configuration, and
// runs the binary taken back out of it. Containers cannot be started here
// and no registry is reachable, so nothing is run inside a container and
// nothing is pulled. It has no code.
package image
