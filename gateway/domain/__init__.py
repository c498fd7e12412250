"""Datahub message domain objects: pure frozen dataclasses, no XML library. Import from the submodules: the
package stays light, so commands that need one of them do not load the rest (metering pulls in NumPy)."""
