"""~60 realistic comments for a commute app, by the theme a reader would give them."""

from __future__ import annotations

CRASHES = [
    ("App crashes when booking a ticket", 2),
    ("It crashed twice while I was paying for my ticket", 1),
    ("Keeps crashing on startup since the last update", 0),
    ("crashes every time I open the journey planner", 3),
    ("The app crashed at checkout and I lost my booking", 1),
    ("Constant crashes on my Pixel, fix it please", 2),
    ("Crashing when I switch to the map view", 4),
    ("After the update it crashes whenever I add a return trip", 3),
]
DEPARTURES = [
    ("Love the live departures board", 10),
    ("Live departures are spot on, I never miss my train", 10),
    ("The live departures screen saves me every morning", 9),
    ("Real-time departures for my station are brilliant", 9),
    ("live departures with platform numbers, exactly what I need", 10),
    ("Departures update live and are accurate", 9),
    ("Checking live departures before leaving home is so handy", 9),
]
NOTIFICATIONS = [
    ("Too many notifications", 4),
    ("Way too many push notifications about offers", 3),
    ("Stop sending me notifications every day", 2),
    ("The notifications are annoying, I turned them off", 5),
    ("Notifications for delays arrive too late to be useful", 6),
    ("I get notifications at 6am on Sunday, why", 3),
    ("Fewer promotional notifications please", 6),
    ("notification spam is getting out of hand", 2),
]
PRICES = [
    ("Price too high for a single ticket", 5),
    ("Ticket prices went up again this month", 4),
    ("The price of a monthly pass is ridiculous", 3),
    ("Booking fee on top of the price is annoying", 5),
    ("Prices are higher than at the station machine", 4),
    ("Cheaper prices for students would be nice", 7),
    ("Price comparison with the bus would help", 7),
]
LOGIN = [
    ("I have to log in again every week", 5),
    ("Login with Apple fails half the time", 3),
    ("Stuck on the login screen after resetting my password", 2),
    ("It logs me out randomly and I have to log in at the gate", 3),
    ("Password reset email never arrives so I cannot login", 1),
    ("Face ID login would be faster than typing a password", 7),
]
BATTERY = [
    ("Drains my battery in the background", 4),
    ("Battery usage is crazy when location is on", 3),
    ("My phone battery dies by noon since I installed it", 2),
    ("Heavy battery drain during the commute", 4),
    ("Please reduce the battery drain from location tracking", 5),
]
REFUNDS = [
    ("Getting a refund for a delayed train is impossible", 2),
    ("Refund for my cancelled trip took three weeks", 3),
    ("Delay compensation refund form is confusing", 4),
    ("Still waiting for my refund after the strike", 1),
    ("Refunds should be automatic when a train is cancelled", 5),
]
MISC = [
    ("Dark mode please", 8),
    ("The design is clean and simple", 9),
    ("Works fine", 8),
    ("Great", 10),
    ("Nice", 9),
    ("Customer support answered quickly", 9),
    ("Would like a widget for my home screen", 8),
    ("ok", 7),
    ("Seat reservation map is confusing", 6),
    ("", 7),
]

ALL_GROUPS = {
    "crash": CRASHES,
    "departures": DEPARTURES,
    "notifications": NOTIFICATIONS,
    "price": PRICES,
    "login": LOGIN,
    "battery": BATTERY,
    "refund": REFUNDS,
}
ALL = [c for group in ALL_GROUPS.values() for c in group] + MISC
