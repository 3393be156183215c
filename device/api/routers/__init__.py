"""One router per area; each only translates HTTP to `CutboxService` calls and back."""
