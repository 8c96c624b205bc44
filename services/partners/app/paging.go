package app

import (
	"strconv"
	"strings"
	"time"

	"github.com/fidelis-loyalty/fidelis/services/internal/fault"
	"github.com/fidelis-loyalty/fidelis/services/internal/paging"
	"github.com/fidelis-loyalty/fidelis/services/partners/domain"
)

// Page sizes of the partners' listings (see paging.Size: 0 is the
// default, more than the maximum is capped).
const (
	DefaultPageSize = 50
	MaxPageSize     = 500
)

// Listings, the first part of their page tokens' scopes.
const (
	listOffers          = "fidelis.partners.v1.PartnerService/ListOffers"
	listProgrammeOffers = "fidelis.partners.v1.PartnerAdminService/ListProgrammeOffers"
	listAudit           = "fidelis.partners.v1.PartnerAdminService/ListAudit"
)

// offerPos is an offer's position in a page token: micros/id.
func offerPos(o *domain.Offer) string {
	return strconv.FormatInt(o.CreatedAt.UnixMicro(), 10) + "/" + o.ID
}

// offerPosition reads a page token of scope as an offer's position.
func offerPosition(scope, token string) (OfferPosition, error) {
	pos, err := paging.Position(scope, token)
	if err != nil || pos == "" {
		return OfferPosition{}, err
	}
	micros, id, ok := strings.Cut(pos, "/")
	n, perr := strconv.ParseInt(micros, 10, 64)
	if !ok || perr != nil || id == "" {
		return OfferPosition{}, fault.Invalid("page_token", "is not a page token of this listing")
	}
	return OfferPosition{CreatedAt: time.UnixMicro(n).UTC(), ID: id}, nil
}
