"""The flow: what may import every package (the CLI registry, the demo, doctor, the
emulator's csim backend). Never imported by the board-side packages."""
