"""Access control for the internal API and the support pages: users and API clients with roles, bearer tokens
stored as hashes, signed session cookies, deny-by-default route guard, masking of personal identity codes and
the audit log of who saw or did what."""
