"""The REST API (`/api/v1/`, Django REST framework, its OpenAPI document by drf-spectacular) and the
personal tokens that reach it. It is another face of the pages: every route goes through the same
`restrict`/`get_allowed` as they do, calls the same `start_…` operations and services, and the audit
log records its commands under the page actions they match."""
