// Package testplugins holds deliberately broken plugins and helper programs
// that the plugin host's tests run as real processes.
package testplugins
