"""Acme Bank's demo help centre: one short article per BANKING77 intent, seeded by `seed_demo`.

Written from the intent names; the figures (fees, limits, days) are the demo bank's own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from memory.knowledge.models import Document
from memory.knowledge.services import add_document

if TYPE_CHECKING:
    from bots.models import Bot

FOOTER = (
    "If this does not answer your question, ask in this chat to talk to a person from our "
    "support team."
)

# intent: (title, article body)
ARTICLES: dict[str, tuple[str, str]] = {
    "card_arrival": (
        "My card has not arrived yet",
        "Cards are posted within two working days of your order and usually arrive within five "
        "to seven working days. You can follow the delivery status in the app under Cards. If "
        "your card has not arrived after ten working days, tell us: we will cancel it and send a "
        "new one free of charge.",
    ),
    "card_linking": (
        "Linking a card you already have to the app",
        "If you received a card by post, open the app, tap Cards, then Link a card, and enter "
        "the code printed on the letter that came with it. Once linked, the card appears in the "
        "app and you can activate it and see its payments.",
    ),
    "exchange_rate": (
        "Which exchange rate do you use?",
        "We convert currencies at the interbank rate published by our card network, updated "
        "continuously during market hours. On weekends a small markup of 0.5 percent applies to "
        "protect against price changes while markets are closed. The app shows the rate before "
        "you confirm an exchange.",
    ),
    "card_payment_wrong_exchange_rate": (
        "A card payment used the wrong exchange rate",
        "Card payments in a foreign currency are converted at the network rate on the day the "
        "merchant settles the payment, which can differ from the rate on the day you paid. If "
        "the merchant converted the amount themselves (dynamic currency conversion), their rate "
        "applies. Always choose to pay in the local currency to get our rate.",
    ),
    "extra_charge_on_statement": (
        "An extra charge on my statement",
        "An unexpected charge is usually a fee for a foreign payment, a cash withdrawal above "
        "your free allowance, or a pre-authorisation by a hotel or a petrol station. Tap the "
        "payment in the app to see what it was for. If you do not recognise the merchant, "
        "freeze your card and contact us.",
    ),
    "pending_cash_withdrawal": (
        "My cash withdrawal is still pending",
        "A cash withdrawal shows as pending until the ATM operator confirms it, which normally "
        "takes one to three working days. The amount is reserved on your balance meanwhile. If "
        "the withdrawal failed and you received no cash, the pending amount is released "
        "automatically within seven days.",
    ),
    "fiat_currency_support": (
        "Which currencies can I hold and exchange?",
        "You can hold and exchange 30 currencies in the app, including euros, pounds, US "
        "dollars, Swiss francs, Japanese yen and Polish zloty. The full list is under Accounts, "
        "Add a currency. Cryptocurrencies are not supported.",
    ),
    "card_delivery_estimate": (
        "How long does card delivery take?",
        "Standard delivery takes five to seven working days within the country and up to 15 "
        "working days abroad. Express delivery, for a fee of 15 euros, arrives within two "
        "working days. You can see the estimated delivery date in the app right after ordering.",
    ),
    "automatic_top_up": (
        "Setting up automatic top-ups",
        "Auto top-up adds money from your linked card when your balance falls below an amount "
        "you choose. Turn it on in the app under Top up, Auto top-up, then choose the threshold "
        "and the amount. You can change or switch it off at any time.",
    ),
    "card_not_working": (
        "My card is not working",
        "Check in the app that the card is not frozen and that it has been activated. Make sure "
        "you have enough balance and that the payment type (online, contactless, ATM) is "
        "enabled in Card settings. If the card is damaged, order a replacement from the app.",
    ),
    "exchange_via_app": (
        "Exchanging money in the app",
        "To exchange money, open the app, tap Exchange, choose the two currencies and enter the "
        "amount. The rate is shown before you confirm and the exchange happens instantly. Both "
        "currencies must be enabled in your account.",
    ),
    "lost_or_stolen_card": (
        "My card was lost or stolen",
        "Freeze the card in the app straight away: tap Cards, then Freeze. If you are sure it is "
        "gone, choose Report lost or stolen to cancel it permanently and order a replacement. "
        "Check recent payments and tell us about any you do not recognise.",
    ),
    "age_limit": (
        "How old do I have to be to open an account?",
        "You must be at least 18 years old to open a standard Acme Bank account. Young people "
        "aged 13 to 17 can have a junior account managed by a parent or guardian from the "
        "parent's app.",
    ),
    "pin_blocked": (
        "My PIN is blocked",
        "Your PIN is blocked after three wrong attempts. To unblock it, open the app, go to Card "
        "settings and choose Unblock PIN, then make a chip-and-PIN transaction at any ATM. If you "
        "have forgotten your PIN, you can view it in the app after confirming your identity.",
    ),
    "contactless_not_working": (
        "Contactless payments are not working",
        "For security, the first payment with a new card must use chip and PIN before "
        "contactless works. After several contactless payments in a row the terminal may also "
        "ask for your PIN. Check that contactless is enabled in Card settings in the app.",
    ),
    "top_up_by_bank_transfer_charge": (
        "Is there a fee to top up by bank transfer?",
        "Topping up by bank transfer is free. Your own bank may charge for sending the "
        "transfer, especially for international transfers, so check their fees. Use the account "
        "details shown under Top up, Bank transfer.",
    ),
    "pending_top_up": (
        "My top-up is still pending",
        "Card top-ups are normally instant, but some are held for a security check for up to an "
        "hour. Bank transfer top-ups take up to one working day, or up to three for "
        "international transfers. If it is still pending after that, send us the payment "
        "reference.",
    ),
    "cancel_transfer": (
        "Cancelling a transfer",
        "You can cancel a transfer while it is still pending: open it in the app and tap Cancel "
        "transfer. Once a transfer is completed it cannot be cancelled; ask the recipient to "
        "send the money back, or contact us if you were the victim of a scam.",
    ),
    "top_up_limits": (
        "How much can I top up?",
        "You can top up to 10,000 euros a day and 30,000 euros a month by card. Bank transfer "
        "top-ups have no daily limit but may be reviewed above 15,000 euros. Your balance can "
        "hold up to 100,000 euros.",
    ),
    "wrong_amount_of_cash_received": (
        "The ATM gave me the wrong amount of cash",
        "If an ATM gave you less cash than was taken from your account, report it in the app: "
        "open the withdrawal and tap Report a problem. Tell us the amount you received. We "
        "investigate with the ATM operator, which takes up to 30 days, and refund the "
        "difference.",
    ),
    "card_payment_fee_charged": (
        "Why was I charged a fee for a card payment?",
        "Card payments in your account currency are free. A 1 percent fee applies to payments "
        "in a currency you do not hold once you pass your monthly free exchange allowance of "
        "1,000 euros. Some merchants also add their own card surcharge.",
    ),
    "transfer_not_received_by_recipient": (
        "The recipient has not received my transfer",
        "Transfers within the euro area usually arrive within one working day, international "
        "ones within five. Check in the app that the transfer is completed and that the "
        "recipient's details are correct. If it is completed, ask the recipient's bank to trace "
        "it with the reference in the app.",
    ),
    "supported_cards_and_currencies": (
        "Which cards and currencies can I top up with?",
        "You can top up with Visa and Mastercard debit or credit cards issued in your name, in "
        "euros, pounds or US dollars. American Express and prepaid cards are not accepted for "
        "top-ups.",
    ),
    "getting_virtual_card": (
        "Getting a virtual card",
        "Open the app, tap Cards, then Add a card, and choose Virtual card. It is created "
        "instantly and can be used for online payments and with Apple Pay or Google Pay. Your "
        "first virtual card is free.",
    ),
    "card_acceptance": (
        "Where can I use my card?",
        "Your Acme Bank card is a Visa card and is accepted wherever Visa is, in shops, online "
        "and at ATMs in more than 200 countries. A few merchants, such as some petrol stations "
        "and car rental companies, may not accept debit cards.",
    ),
    "top_up_reverted": (
        "My top-up was reverted",
        "A top-up is reverted when the card issuer declines it or our security checks do not "
        "pass. The money returns to your card within three to five working days. Try again "
        "with a card in your own name, or top up by bank transfer.",
    ),
    "balance_not_updated_after_cheque_or_cash_deposit": (
        "My balance did not update after a cheque or cash deposit",
        "Cash deposited at a partner bank appears within two working days. Cheques take five "
        "working days to clear before the money is available. If your balance has not updated "
        "after that, send us a photo of the deposit receipt.",
    ),
    "card_payment_not_recognised": (
        "I don't recognise a card payment",
        "Merchants sometimes appear under a different name than the shop. Tap the payment in "
        "the app to see the merchant details and location. If you still do not recognise it, "
        "freeze your card and choose Dispute this payment; we will investigate and may order a "
        "new card for you.",
    ),
    "edit_personal_details": (
        "Changing my personal details",
        "You can change your address, phone number and email in the app under Profile, "
        "Personal details. To change your legal name you need to upload an identity document "
        "showing the new name. Changes are checked within one working day.",
    ),
    "why_verify_identity": (
        "Why do I have to verify my identity?",
        "As a regulated bank we are required by law to confirm who our customers are, to "
        "prevent fraud and money laundering. Verification also protects your account from "
        "anyone trying to open one in your name. Your documents are stored securely.",
    ),
    "unable_to_verify_identity": (
        "I can't verify my identity",
        "Make sure your document is valid, not expired, and photographed in good light without "
        "glare, with all four corners visible. Your selfie must be taken in the app, not "
        "uploaded. If verification still fails after three tries, a person from our team will "
        "review your documents.",
    ),
    "get_physical_card": (
        "Getting a physical card",
        "Every account comes with one free physical card. Order it in the app under Cards, Order "
        "a physical card, confirm your delivery address and choose standard or express "
        "delivery.",
    ),
    "visa_or_mastercard": (
        "Is my card a Visa or a Mastercard?",
        "All Acme Bank debit cards, physical and virtual, are Visa cards. They can be used "
        "wherever Visa is accepted.",
    ),
    "topping_up_by_card": (
        "Topping up with a card",
        "To top up with a debit or credit card, tap Top up in the app, choose Card, enter the "
        "card details and the amount. Card top-ups are usually instant. The card must be in "
        "your own name.",
    ),
    "disposable_card_limits": (
        "Limits of disposable virtual cards",
        "A disposable virtual card works for one online payment, after which its details change "
        "automatically. You can create up to 20 disposable cards a day. They cannot be used for "
        "recurring payments, refunds to the card or cash withdrawals.",
    ),
    "compromised_card": (
        "I think my card details were stolen",
        "If someone else may know your card details, freeze the card in the app immediately and "
        "check your recent payments. Report any payment you did not make as a dispute, then "
        "order a new card with new details from the Cards tab.",
    ),
    "atm_support": (
        "Using ATMs",
        "You can withdraw cash from any ATM displaying the Visa logo, worldwide. Withdrawals up "
        "to 200 euros a month are free; above that a 2 percent fee applies. The daily "
        "withdrawal limit is 1,000 euros.",
    ),
    "direct_debit_payment_not_recognised": (
        "I don't recognise a direct debit",
        "Open the direct debit in the app to see who collected it and the mandate reference. "
        "Companies sometimes collect under a parent company's name. If you did not authorise "
        "it, tap Report a problem: you are entitled to a refund of an unauthorised direct "
        "debit.",
    ),
    "passcode_forgotten": (
        "I forgot my app passcode",
        "On the login screen tap Forgot passcode. We send a link to your email address; follow "
        "it, then confirm your identity with a selfie to choose a new passcode. Your money and "
        "cards are not affected.",
    ),
    "declined_cash_withdrawal": (
        "My cash withdrawal was declined",
        "A withdrawal can be declined if you entered a wrong PIN, reached your daily limit of "
        "1,000 euros, have too little balance, or if ATM withdrawals are turned off in Card "
        "settings. Some ATMs also set their own lower limit.",
    ),
    "pending_card_payment": (
        "My card payment is pending",
        "Card payments stay pending until the merchant completes them, usually within a few "
        "days. Hotels and petrol stations may hold an amount first and charge the final one "
        "later. If a pending payment is never completed, the money is released after seven "
        "days.",
    ),
    "lost_or_stolen_phone": (
        "I lost my phone",
        "Log in from another device or from our website and freeze your cards. Then go to "
        "Security, Devices and log out the lost phone. When you get a new phone, install the "
        "app and log in with your email; we will ask you to confirm your identity.",
    ),
    "request_refund": (
        "Asking a merchant for a refund",
        "Ask the merchant for a refund first; most refunds reach your card within five working "
        "days. If the merchant refuses or does not respond within 15 days, open the payment in "
        "the app and tap Dispute this payment to raise a chargeback.",
    ),
    "declined_transfer": (
        "My transfer was declined",
        "A transfer can be declined if your balance is too low, the recipient's details are "
        "invalid, or our security checks need more information. Check the reason shown on the "
        "transfer in the app. You can correct the details and send it again.",
    ),
    "Refund_not_showing_up": (
        "My refund is not showing up",
        "Refunds are sent by the merchant and usually reach your account within five working "
        "days, but some merchants take up to 30 days. The refund appears on the same card you "
        "paid with. Ask the merchant for the refund reference if it has not arrived.",
    ),
    "declined_card_payment": (
        "My card payment was declined",
        "Payments are declined when the balance is too low, the card is frozen, the payment "
        "type is turned off, or our fraud checks block it. The app shows the reason on the "
        "declined payment. If it was a fraud block, confirm the payment in the app and try "
        "again.",
    ),
    "pending_transfer": (
        "My transfer is pending",
        "Most transfers complete within one working day. Transfers may stay pending longer "
        "when they are sent after the daily cut-off of 4 pm, on weekends and holidays, or when "
        "they need a security check.",
    ),
    "terminate_account": (
        "Closing my account",
        "To close your account, move your money out and cancel any direct debits, then go to "
        "Profile, Close account in the app. Your cards are cancelled at once. We keep your "
        "statements available for download for six years.",
    ),
    "card_swallowed": (
        "An ATM kept my card",
        "If an ATM swallowed your card, freeze it in the app right away. Cards retained by ATMs "
        "are destroyed by the operator, so order a replacement in the app under Cards; it is "
        "free in this case.",
    ),
    "transaction_charged_twice": (
        "I was charged twice for the same payment",
        "A double charge is often a pending authorisation that disappears within a few days. If "
        "both payments are completed, ask the merchant to refund one; if they do not, open the "
        "payment in the app and tap Dispute this payment.",
    ),
    "verify_source_of_funds": (
        "Why do you ask where my money comes from?",
        "For large or unusual payments the law requires us to check the source of funds. You "
        "can upload a payslip, a bank statement, a sale contract or a similar document in the "
        "app. We review it within two working days.",
    ),
    "transfer_timing": (
        "How long does a transfer take?",
        "Transfers to Acme Bank customers are instant. SEPA transfers in euros arrive within one "
        "working day, or within seconds when instant SEPA is available. International transfers "
        "take one to five working days.",
    ),
    "reverted_card_payment?": (
        "A card payment was reverted",
        "A reverted payment is one the merchant cancelled before completing it, so the money is "
        "returned to your balance. This is common with hotels, car rentals and online orders "
        "that were changed. No action is needed.",
    ),
    "change_pin": (
        "Changing my PIN",
        "You can change your PIN at any ATM that offers PIN services: insert the card and "
        "choose Change PIN. You can also view your current PIN in the app under Card settings, "
        "Show PIN.",
    ),
    "beneficiary_not_allowed": (
        "I can't add a beneficiary",
        "A beneficiary can be refused when the account details are invalid, the bank is not "
        "supported, or the recipient is on a sanctions list. Check the account number and the "
        "name. Some countries cannot receive transfers from us.",
    ),
    "transfer_fee_charged": (
        "Why was I charged a fee for a transfer?",
        "Transfers in euros within the SEPA area are free. International transfers in other "
        "currencies cost 0.5 percent, at least 3 euros. The recipient's bank or an intermediary "
        "bank may also take a fee.",
    ),
    "receiving_money": (
        "Receiving money into my account",
        "To receive money, share your account details from the app under Accounts, Account "
        "details. Transfers in euros arrive within one working day. For other currencies, add "
        "the currency to your account first.",
    ),
    "failed_transfer": (
        "My transfer failed",
        "A transfer fails when the recipient's bank rejects it, usually because of a wrong "
        "account number or a closed account. The money comes back to your balance within five "
        "working days. Check the details and send it again.",
    ),
    "transfer_into_account": (
        "Transferring money into my account",
        "To move money in from another bank, use the account details shown under Top up, Bank "
        "transfer. Transfers from your own accounts in euros are free and arrive within one "
        "working day.",
    ),
    "verify_top_up": (
        "Why do I need to verify a top-up?",
        "The first time you top up with a new card, we may ask you to confirm you own it by "
        "entering a short code that appears on your card statement. This protects you and us "
        "from stolen cards.",
    ),
    "getting_spare_card": (
        "Getting a second card",
        "You can have up to three physical cards and several virtual cards on one account. "
        "Order an extra card in the app under Cards, Add a card. Additional physical cards cost "
        "6 euros.",
    ),
    "top_up_by_cash_or_cheque": (
        "Can I top up with cash or a cheque?",
        "You can deposit cash at partner bank branches with a deposit code from the app. Cheques "
        "can be sent by post to our processing centre. Cash deposits cost 1 percent; cheques are "
        "free.",
    ),
    "order_physical_card": (
        "Ordering a physical card",
        "To order a physical card, open the app, tap Cards, then Order a physical card. Confirm "
        "your address and choose a delivery option. Your first card is free.",
    ),
    "virtual_card_not_working": (
        "My virtual card is not working",
        "Check that the virtual card is not frozen and has not reached its limit. Some "
        "merchants, such as hotels and car rentals, do not accept virtual cards. Disposable "
        "virtual cards work for one payment only.",
    ),
    "wrong_exchange_rate_for_cash_withdrawal": (
        "The exchange rate for my cash withdrawal was wrong",
        "If the ATM offered to convert the amount for you, it used its own rate. Always choose "
        "to be charged in the local currency so that our rate applies. Weekend withdrawals "
        "include a 0.5 percent markup.",
    ),
    "get_disposable_virtual_card": (
        "Getting a disposable virtual card",
        "Tap Cards, Add a card, and choose Disposable virtual card. Its number changes after "
        "each payment, which keeps your details safe when shopping on unfamiliar websites.",
    ),
    "top_up_failed": (
        "My top-up failed",
        "A top-up fails when the card is declined by its issuer, the card is not in your name, "
        "or the amount exceeds your top-up limit. Check with your card issuer and try again, "
        "or top up by bank transfer.",
    ),
    "balance_not_updated_after_bank_transfer": (
        "My balance did not update after a bank transfer",
        "Bank transfers take up to one working day to arrive, or up to five for international "
        "transfers. Check that the sender used the exact account details and reference shown in "
        "the app. If it still has not arrived, send us the transfer confirmation.",
    ),
    "cash_withdrawal_not_recognised": (
        "I don't recognise a cash withdrawal",
        "If you see a cash withdrawal you did not make, freeze your card immediately and report "
        "it in the app with Report a problem. We will investigate and refund unauthorised "
        "withdrawals.",
    ),
    "exchange_charge": (
        "Is there a fee for exchanging currency?",
        "Exchanging currency in the app is free up to 1,000 euros a month. Above that a 0.5 "
        "percent fee applies. On weekends a further 0.5 percent markup applies to all "
        "exchanges.",
    ),
    "top_up_by_card_charge": (
        "Is there a fee for topping up by card?",
        "Top-ups with cards issued in the European Economic Area are free. Cards issued "
        "elsewhere, and commercial cards, carry a 0.7 percent fee.",
    ),
    "activate_my_card": (
        "Activating my card",
        "To activate your new card, open the app, tap Cards, select the new card and tap "
        "Activate, then enter the last four digits printed on it. You can also activate it by "
        "making a chip-and-PIN payment.",
    ),
    "cash_withdrawal_charge": (
        "Why was I charged for a cash withdrawal?",
        "Cash withdrawals are free up to 200 euros a month. Above that a 2 percent fee applies. "
        "Some ATM operators add their own fee, which the ATM shows before you confirm.",
    ),
    "card_about_to_expire": (
        "My card is about to expire",
        "We send a new card automatically about a month before your card expires. If your "
        "address has changed, update it in the app first. Activate the new card when it "
        "arrives; the old one stops working on its expiry date.",
    ),
    "apple_pay_or_google_pay": (
        "Using Apple Pay or Google Pay",
        "Add your card to Apple Pay or Google Pay from the app: tap the card, then Add to "
        "Apple Wallet or Add to Google Pay. Both work for contactless payments in shops and "
        "for online payments.",
    ),
    "verify_my_identity": (
        "How do I verify my identity?",
        "In the app, tap Verify identity, photograph your passport, national identity card or "
        "driving licence, then take a short selfie video. Most verifications are done within "
        "minutes.",
    ),
    "country_support": (
        "Which countries do you support?",
        "You can open an Acme Bank account if you live in the European Economic Area, the "
        "United Kingdom or Switzerland. Your card works worldwide, but you must keep a "
        "residential address in a supported country.",
    ),
}


def article_markdown(title: str, body: str) -> str:
    return f"# {title}\n\n{body}\n\n{FOOTER}\n"


# Each article's example questions: this many of its intent's BANKING77 training utterances
# (customers' own words; the test split stays unseen, for bench.answers).
QUESTIONS_PER_ARTICLE = 40


def seed_demo_knowledge(bot: Bot, examples: dict[str, list[str]] | None = None) -> str:
    """Add (or leave as they are) the 77 articles; changed ones are re-ingested. Idempotent.

    `examples`: intent -> customers' questions (BANKING77's train split), when at hand.
    """
    before = dict(Document.objects.filter(bot=bot).values_list("key", "revision"))
    queued = 0
    for intent, (title, body) in ARTICLES.items():
        key = f"banking77/{intent.rstrip('?').lower()}.md"
        document = add_document(
            bot,
            kind=Document.Kind.MARKDOWN,
            title=title,
            body=article_markdown(title, body),
            key=key,
            questions=(examples or {}).get(intent, [])[:QUESTIONS_PER_ARTICLE],
        )
        queued += before.get(key) != document.revision
    return f"knowledge: {len(ARTICLES)} help articles, {queued} queued for ingestion"
