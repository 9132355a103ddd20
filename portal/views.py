"""A person's preferences: the language of the pages and the time zone of their times."""

from django import forms
from django.conf import settings
from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from django.views.decorators.http import require_http_methods

from portal import zones
from portal.access import Action, requires
from portal.models import Preferences


class PreferencesForm(forms.Form):
    language = forms.ChoiceField(label=_lazy("Language"), choices=settings.LANGUAGES)
    time_zone = forms.ChoiceField(label=_lazy("Time zone"), required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["time_zone"].choices = [("", _("The time zone of my browser"))] + [
            (name, name) for name in sorted(zones.known_zones())]


@requires(Action.VIEW)
@require_http_methods(["GET", "POST"])
def preferences(request):
    mine, _created = Preferences.objects.get_or_create(user=request.user)
    initial = {"language": translation.get_language(), "time_zone": mine.time_zone}
    form = PreferencesForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        mine.time_zone = form.cleaned_data["time_zone"]
        mine.save(update_fields=["time_zone"])
        if mine.time_zone:
            request.session[zones.SESSION_KEY] = mine.time_zone
        else:
            request.session.pop(zones.SESSION_KEY, None)
        language = form.cleaned_data["language"]
        translation.activate(language)
        messages.success(request, _("Your preferences are saved."))
        response = redirect("preferences")
        response.set_cookie(settings.LANGUAGE_COOKIE_NAME, language, max_age=settings.LANGUAGE_COOKIE_AGE,
                            samesite="Lax", secure=settings.SESSION_COOKIE_SECURE)
        return response
    return render(request, "portal/preferences.html", {"form": form, "browser_zone": zones.valid(
        request.COOKIES.get(zones.BROWSER_COOKIE))}, status=400 if form.errors else 200)
