"""One module per build stage: compile, assemble, link, verify, disasm, image."""
