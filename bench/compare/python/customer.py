"""The webshop recommender's input contract as a pydantic model: the same
features, types, ranges and vocabulary as modelhost's `webshop_schema()`
(examples/common/mod.rs), including the rejection of NaN and infinities."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

DEVICES = ("mobile", "desktop", "tablet")


class Customer(BaseModel):
    model_config = ConfigDict(allow_inf_nan=False)

    recency_days: int = Field(ge=0, le=3650, description="days since the last visit")
    frequency: int = Field(ge=0, description="orders in the last year")
    basket_value: float = Field(ge=0.0, le=100_000.0, description="current basket, in euro")
    product_price: float = Field(ge=0.0, description="price of the recommended product")
    device: Literal["mobile", "desktop", "tablet"] = Field(description="device of the session")
    is_returning: bool = Field(default=False, description="has bought before")

    def encoded(self):
        """The row in the encoding the tree was trained on."""
        return [
            self.recency_days,
            self.frequency,
            self.basket_value,
            self.product_price,
            DEVICES.index(self.device),
            int(self.is_returning),
        ]
