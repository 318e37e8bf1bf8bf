"""The list reply of the contract: id cursors, `limit`, `order`, `has_more`."""

from django.db.models import Q, QuerySet
from rest_framework import serializers
from rest_framework.pagination import BasePagination
from rest_framework.response import Response

from freddy.fields import StrictCharField


class ListParamsSerializer(serializers.Serializer):
    limit = serializers.IntegerField(min_value=1, max_value=100, default=20)
    order = serializers.ChoiceField(choices=["asc", "desc"], required=False)
    after = StrictCharField(required=False)
    before = StrictCharField(required=False)

    def validate(self, attrs):
        if "after" in attrs and "before" in attrs:
            raise serializers.ValidationError({"before": "Use either after or before."})
        return attrs


class IdCursorPagination(BasePagination):
    """Keyset pagination on (sort_field, id); cursors are object ids."""

    def __init__(self, *, sort_field: str, default_order: str) -> None:
        self.sort_field = sort_field
        self.default_order = default_order

    def paginate_queryset(self, queryset: QuerySet, request, view=None) -> list:
        params = ListParamsSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        self.limit = params.validated_data["limit"]
        descending = params.validated_data.get("order", self.default_order) == "desc"
        backwards = "before" in params.validated_data
        cursor_name = "before" if backwards else "after"
        if cursor := params.validated_data.get(cursor_name):
            queryset = queryset.filter(
                self._beyond(queryset, cursor_name, cursor, descending != backwards))
        ordering = (self.sort_field, "pk")
        if descending != backwards:
            ordering = tuple("-" + f for f in ordering)
        page = list(queryset.order_by(*ordering)[: self.limit + 1])
        self.has_more = len(page) > self.limit
        page = page[: self.limit]
        return page[::-1] if backwards else page

    def _beyond(self, queryset: QuerySet, name: str, cursor: str, descending: bool) -> Q:
        anchor = queryset.filter(pk=cursor).values_list(self.sort_field, "pk").first()
        if anchor is None:
            raise serializers.ValidationError({name: f"No object with id '{cursor}'."})
        op = "lt" if descending else "gt"
        value, pk = anchor
        return Q(**{f"{self.sort_field}__{op}": value}) | Q(
            **{self.sort_field: value, f"pk__{op}": pk})

    def get_paginated_response(self, data, **extra) -> Response:
        return Response({
            "object": "list", "data": data,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
            "has_more": self.has_more, "limit": self.limit, **extra,
        })
