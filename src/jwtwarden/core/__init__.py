"""Pure rules: sessions, rotation outcomes, revocation decisions. No IO."""
