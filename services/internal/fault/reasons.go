package fault

// Reason is the stable, machine-readable cause of a refusal, sent as the
// reason of a google.rpc.ErrorInfo (domain ErrorDomain). Every reason here
// is a value of the enum fidelis.type.v1.ErrorReason (a test keeps the two
// equal), so that clients get constants for them; the protos list, per
// RPC, the reasons it may return. A reason, once published, keeps its
// meaning: add new ones, never reuse or rename one.
type Reason string

// ErrorDomain is the domain of every ErrorInfo Fidelis sends.
const ErrorDomain = "fidelis-loyalty.github.io"

// Reasons of any call, by status code: the edge gives a refusal without a
// reason of its own the one of its code.
const (
	ReasonInvalidArgument    Reason = "INVALID_ARGUMENT"
	ReasonUnauthenticated    Reason = "UNAUTHENTICATED"
	ReasonPermissionDenied   Reason = "PERMISSION_DENIED"
	ReasonRateLimited        Reason = "RATE_LIMITED"
	ReasonUnavailable        Reason = "UNAVAILABLE"
	ReasonDeadlineExceeded   Reason = "DEADLINE_EXCEEDED"
	ReasonCanceled           Reason = "CANCELED"
	ReasonInternal           Reason = "INTERNAL"
	ReasonNotFound           Reason = "NOT_FOUND"
	ReasonFailedPrecondition Reason = "FAILED_PRECONDITION"
	ReasonAlreadyExists      Reason = "ALREADY_EXISTS"
	ReasonUnimplemented      Reason = "UNIMPLEMENTED"
)

// Reasons shared by every service.
const (
	// IdempotencyKeyReused: the key was used for a different request.
	IdempotencyKeyReused Reason = "IDEMPOTENCY_KEY_REUSED"
	// IdempotencyKeyBusy: concurrent requests with the key kept
	// conflicting, or a newer release wrote it; retry with the same key.
	IdempotencyKeyBusy Reason = "IDEMPOTENCY_KEY_BUSY"
	// ShuttingDown: this replica is stopping; retry (elsewhere).
	ShuttingDown Reason = "SHUTTING_DOWN"
	// DatabaseUnavailable: the database cannot be reached now; retry.
	DatabaseUnavailable Reason = "DATABASE_UNAVAILABLE"
	// TransactionConflict: the transaction kept conflicting with
	// concurrent ones; retry.
	TransactionConflict Reason = "TRANSACTION_CONFLICT"
	// CommitOutcomeUnknown: the connection failed while the transaction
	// committed, so whether it did is unknown; retry with the same key,
	// which replays the outcome if it committed.
	CommitOutcomeUnknown Reason = "COMMIT_OUTCOME_UNKNOWN"
	// ProgrammeNotAllowed: the caller is not bound to that programme.
	ProgrammeNotAllowed Reason = "PROGRAMME_NOT_ALLOWED"
	// ProgrammeRequired: the caller is bound to programmes and must name one.
	ProgrammeRequired Reason = "PROGRAMME_REQUIRED"
	// LimitExceeded: above the caller's per-call limit (max earn, adjust).
	LimitExceeded Reason = "LIMIT_EXCEEDED"
	// PartnerAccountForbidden: the caller may not move a partner's points.
	PartnerAccountForbidden Reason = "PARTNER_ACCOUNT_FORBIDDEN"
	// EtagMismatch: the etag sent is not the resource's current one
	// (KindAborted).
	EtagMismatch Reason = "ETAG_MISMATCH"
)

// Ledger reasons.
const (
	ProgrammeNotFound     Reason = "PROGRAMME_NOT_FOUND"
	MemberNotFound        Reason = "MEMBER_NOT_FOUND"
	MemberAlreadyEnrolled Reason = "MEMBER_ALREADY_ENROLLED"
	InsufficientPoints    Reason = "INSUFFICIENT_POINTS"
	BalanceFloorReached   Reason = "BALANCE_FLOOR_REACHED"
	HoldNotFound          Reason = "HOLD_NOT_FOUND"
	HoldNotActive         Reason = "HOLD_NOT_ACTIVE"
	HoldExpired           Reason = "HOLD_EXPIRED"
	HoldExceeded          Reason = "HOLD_EXCEEDED"
	EntryNotFound         Reason = "ENTRY_NOT_FOUND"
	EntryNotReversible    Reason = "ENTRY_NOT_REVERSIBLE"
	EntryNotPurchase      Reason = "ENTRY_NOT_PURCHASE"
	EntryFullyReversed    Reason = "ENTRY_FULLY_REVERSED"
	ReversalExceedsEntry  Reason = "REVERSAL_EXCEEDS_ENTRY"
	ProgrammeHasNoTiers   Reason = "PROGRAMME_HAS_NO_TIERS"
	NoPurchaseHistory     Reason = "NO_PURCHASE_HISTORY"
	ChurnModelNotFitted   Reason = "CHURN_MODEL_NOT_FITTED"
	MemberNotInModel      Reason = "MEMBER_NOT_IN_MODEL"
	// CursorStale: the event stream was rebuilt since the cursor was
	// given; resume from a time.
	CursorStale Reason = "CURSOR_STALE"
	// OperationNotFound: no long-running operation with that name, or
	// not one the caller may see.
	OperationNotFound Reason = "OPERATION_NOT_FOUND"
	// OperationAbandoned: the replica running an operation stopped
	// before finishing it (its heartbeat went stale).
	OperationAbandoned Reason = "OPERATION_ABANDONED"
)

// Rewards reasons.
const (
	RewardNotFound           Reason = "REWARD_NOT_FOUND"
	RewardNotRedeemable      Reason = "REWARD_NOT_REDEEMABLE"
	RewardOutOfStock         Reason = "REWARD_OUT_OF_STOCK"
	StockBelowIssued         Reason = "STOCK_BELOW_ISSUED"
	RedemptionLimitReached   Reason = "REDEMPTION_LIMIT_REACHED"
	RedemptionNotFound       Reason = "REDEMPTION_NOT_FOUND"
	RedemptionNotCancellable Reason = "REDEMPTION_NOT_CANCELLABLE"
	RedemptionFailed         Reason = "REDEMPTION_FAILED"
	MemberNotInProgramme     Reason = "MEMBER_NOT_IN_PROGRAMME"
	VoucherNotFound          Reason = "VOUCHER_NOT_FOUND"
	VoucherNotUsable         Reason = "VOUCHER_NOT_USABLE"
)

// Partners reasons.
const (
	NotAPartner          Reason = "NOT_A_PARTNER"
	PartnerNotFound      Reason = "PARTNER_NOT_FOUND"
	PartnerSuspended     Reason = "PARTNER_SUSPENDED"
	OtherPartners        Reason = "OTHER_PARTNERS"
	MemberNotLinked      Reason = "MEMBER_NOT_LINKED"
	NoPointsEarned       Reason = "NO_POINTS_EARNED"
	OfferNotFound        Reason = "OFFER_NOT_FOUND"
	OfferNotApplicable   Reason = "OFFER_NOT_APPLICABLE"
	OfferNoConsent       Reason = "OFFER_NO_CONSENT"
	OfferCapReached      Reason = "OFFER_CAP_REACHED"
	OfferCooldown        Reason = "OFFER_COOLDOWN"
	OfferBudgetExhausted Reason = "OFFER_BUDGET_EXHAUSTED"
	PartnerTxnFailed     Reason = "PARTNER_TXN_FAILED"
)

// Members' personal data reasons.
const (
	IdentifierTaken    Reason = "IDENTIFIER_TAKEN"
	MemberErased       Reason = "MEMBER_ERASED"
	IdentifierNotFound Reason = "IDENTIFIER_NOT_FOUND"
)

// Access reasons.
const (
	PrincipalNotFound      Reason = "PRINCIPAL_NOT_FOUND"
	PrincipalAlreadyExists Reason = "PRINCIPAL_ALREADY_EXISTS"
	PrincipalOfPartner     Reason = "PRINCIPAL_OF_PARTNER"
	APIKeyNotFound         Reason = "API_KEY_NOT_FOUND"
	APIKeyAlreadyRotated   Reason = "API_KEY_ALREADY_ROTATED"
	APIKeyNotActive        Reason = "API_KEY_NOT_ACTIVE"
)

// ReasonOf is the reason err gives a program: its fault's, the one of its
// kind when it has none, or "" for an error that is not a fault.
func ReasonOf(err error) Reason {
	f, ok := As(err)
	if !ok {
		return ""
	}
	if f.Reason != "" {
		return f.Reason
	}
	switch f.Kind {
	case KindInvalid:
		return ReasonInvalidArgument
	case KindNotFound:
		return ReasonNotFound
	case KindFailedPrecondition:
		return ReasonFailedPrecondition
	case KindAlreadyExists:
		return ReasonAlreadyExists
	case KindPermissionDenied:
		return ReasonPermissionDenied
	case KindUnavailable:
		return ReasonUnavailable
	case KindUnauthenticated:
		return ReasonUnauthenticated
	case KindAborted:
		return EtagMismatch
	}
	return ReasonInternal
}
