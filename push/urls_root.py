"""The service worker at the site's root (its scope is what its URL's path allows)."""

from django.urls import path

from . import apis

urlpatterns = [path("sw.js", apis.service_worker, name="service-worker")]
