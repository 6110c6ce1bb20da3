from django.urls import path
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.views import TokenRefreshView


class Me(APIView):
    """The protected view: JWTAuthentication + IsAuthenticated."""

    def get(self, request: Request) -> Response:
        return Response({"sub": str(request.user.pk), "username": request.user.username})


urlpatterns = [
    path("me", Me.as_view()),
    path("token/refresh", TokenRefreshView.as_view()),
]
