package app

// LedgerKey is ledgerKey, for tests that replay a redemption's ledger calls.
var LedgerKey = ledgerKey
