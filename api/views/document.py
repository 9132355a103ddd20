"""The OpenAPI document's view (its reference page is drf-spectacular's own)."""

from drf_spectacular.views import SpectacularAPIView
from rest_framework.renderers import JSONRenderer


class SchemaView(SpectacularAPIView):
    """The document (YAML, or ?format=json); its refusals are problems in JSON like every other route's."""

    def handle_exception(self, exc):
        response = super().handle_exception(exc)
        self.request.accepted_renderer, self.request.accepted_media_type = JSONRenderer(), "application/json"
        return response
