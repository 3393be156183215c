"""The box's jobs, in one place the CLI, the API and MQTT commands all call: capture, spin,
calibrate, correct and review on the running box (`BoxWorkflows`), and the file batch behind
`cutbox cutout` and `cutbox demo`."""
