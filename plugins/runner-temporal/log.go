package main

// quietLogger drops the Temporal client's own logging: in the plugin, errors
// reach the host as events and outcomes, and stderr is the plugin's log.
type quietLogger struct{}

func (quietLogger) Debug(string, ...interface{}) {}
func (quietLogger) Info(string, ...interface{})  {}
func (quietLogger) Warn(string, ...interface{})  {}
func (quietLogger) Error(string, ...interface{}) {}
