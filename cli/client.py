"""The REST API over HTTP. The token goes only to the configured portal: no redirect is followed, and
of a `next` page only its path and query are used. A refusal comes back as the API's problem."""

from urllib.parse import urlsplit

import requests
from requests.auth import AuthBase

TIMEOUT = 30
MAX_PAGE = 200  # the API's largest page


class PortalError(Exception):
    """The portal refused (a problem), or could not be reached."""

    def __init__(self, message, status=None, problem=None):
        super().__init__(message)
        self.status = status
        self.problem = problem or {}


class Bearer(AuthBase):
    """The token as the request's auth: a ~/.netrc entry for the host cannot replace it."""

    def __init__(self, token):
        self.token = token

    def __call__(self, request):
        request.headers["Authorization"] = f"Bearer {self.token}"
        return request


class Client:
    def __init__(self, settings):
        self.base = settings.url
        self.session = requests.Session()
        self.session.auth = Bearer(settings.token)
        self.session.headers.update({"Accept": "application/json", "User-Agent": "vaultline-cli"})

    def get(self, path, **params):
        return self._call("GET", path, params={k: v for k, v in params.items() if v is not None})

    def post(self, path, body=None):
        return self._call("POST", path, json=body or {})

    def put(self, path, body, **params):
        return self._call("PUT", path, json=body, params=params)

    def all_pages(self, path, **params):
        """Every row of a list, page after page (of a `next` link only its query is used: the path is ours)."""
        page = self.get(path, page_size=MAX_PAGE, **params)
        rows = list(page["results"])
        while page.get("next"):
            page = self._call("GET", f"{path}?{urlsplit(page['next']).query}")
            rows += page["results"]
        return rows

    def _call(self, method, path, **kwargs):
        try:
            response = self.session.request(method, self.base + path, timeout=TIMEOUT, allow_redirects=False, **kwargs)
        except requests.RequestException as error:
            raise PortalError(f"The portal at {self.base} did not answer: {error}") from None
        if 300 <= response.status_code < 400:
            raise PortalError(f"The portal answered {method} {path} with a redirect ({response.status_code}); "
                              "check the URL.", response.status_code)
        if response.status_code >= 400:
            raise PortalError(*_problem(response))
        if response.status_code == 204:
            return None
        try:
            return response.json()
        except ValueError:
            raise PortalError(f"The portal answered {method} {path} with something that is not JSON.") from None


def _problem(response):
    try:
        problem = response.json()
    except ValueError:
        problem = {}
    if not isinstance(problem, dict):
        problem = {}
    message = str(problem.get("detail") or f"The portal answered {response.status_code}.")
    errors = problem.get("errors")
    if isinstance(errors, dict):
        fields = "; ".join(f"{name}: {' '.join(map(str, values)) if isinstance(values, list) else values}"
                           for name, values in errors.items())
        message = fields or message
    return message, response.status_code, problem
