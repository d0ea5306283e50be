//! frontdoor-media: the media plane of frontdoor.
