"""The OpenAPI document: drf-spectacular's, with every error an operation can answer described as a
problem (`application/problem+json`), so a client (and the fuzz test) knows every response's shape."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from rest_framework import serializers

from api.problems import PROBLEM_JSON


class ProblemSerializer(serializers.Serializer):
    type = serializers.CharField()
    title = serializers.CharField()
    status = serializers.IntegerField()
    detail = serializers.CharField()
    code = serializers.CharField(help_text="refused, needs_confirmation, invalid, not_found, permission_denied, "
                                           "read_only_token, not_authenticated, authentication_failed, …")
    errors = serializers.DictField(required=False, help_text="Each field's messages, for invalid input.")
    removals = serializers.ListField(child=serializers.DictField(), required=False,
                                     help_text="For needs_confirmation: the recovery points each VM would lose.")


class ProblemAutoSchema(AutoSchema):
    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        for status in self._problem_statuses():
            if status not in responses:
                responses[status] = self._get_response_for_code(ProblemSerializer, status, [PROBLEM_JSON], direction)
        return responses

    def _problem_statuses(self):
        statuses = ["400", "401", "403", "404", "405", "406"]
        if self.method in ("POST", "PUT", "PATCH", "DELETE"):
            statuses += ["409", "415"]
        return statuses


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "api.authentication.BearerTokenAuthentication"
    name = "bearer"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "A personal token from the API tokens page."}

