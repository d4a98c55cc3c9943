/*
 * Switchboard web chat widget.
 *
 * Embed with one line (options are optional):
 *   <script src="https://HOST/chat/widget.js" defer
 *           data-title="Chat with us" data-color="#4f46e5"
 *           data-position="right" data-greeting="Hi! How can we help?"></script>
 *
 * Plain JavaScript, no framework. Everything else (its stylesheet, the Socket.IO client)
 * is loaded from the host that served this file. Messages are always rendered as text.
 * No inline script or style attribute is written, so a strict Content-Security-Policy
 * works (allow HOST in script-src, style-src and connect-src).
 */
(function () {
  "use strict";

  if (window.__switchboardChat) return; // embedded twice: keep the first
  window.__switchboardChat = true;

  var script = document.currentScript ||
    document.querySelector('script[src*="/chat/widget.js"]');
  if (!script) return;
  var BASE = new URL(script.src, location.href).origin;
  var data = script.dataset || {};

  // -- the widget's own words, in the site's language ---------------------------------------
  // data-lang, else the page's <html lang>, else the browser's; English where none of these
  // is one of ours. What the team writes (the greeting given, the bot's answers, the
  // handoff and away messages set on the server) is shown as written.
  var TEXTS = {
    en: {
      title: "Chat with us", greeting: "Hi! How can we help you today?",
      openChat: "Open chat: {title}", closeChat: "Close chat",
      connecting: "Connecting…", online: "Online", reconnected: "Reconnected",
      lost: "Connection lost. Reconnecting…", reconnecting: "Reconnecting…",
      attempt: "Reconnecting… (attempt {n})", offline: "Offline. Reconnecting…",
      unavailable: "Chat unavailable on this site", cantReach: "Can't reach the chat. Retrying…",
      earlier: "Show earlier messages",
      scores: ["Very bad", "Bad", "Okay", "Good", "Very good"], scoreLabel: "{n} of 5: {word}",
      rateThis: "How was this conversation?", rateLast: "How was your last conversation?",
      anythingToAdd: "Thanks! Anything to add? (optional)", send: "Send",
      thanks: "Thanks for your feedback.",
      tooManyTries: "Too many tries in a row. Wait a moment, then try again.",
      ratingFailed: "Couldn't send your rating. Check your connection and try again.",
      left: "{n} left", placeholder: "Write a message…", message: "Message",
      sendFile: "Send a file", human: "Talk to a person",
      escalation: "I'd like to talk to a person, please.",
      bot: "Assistant", agent: "Team", user: "You",
      escalated: "We've asked a person from our team to join. They'll answer here.",
      joined: "A person from our team has joined the chat.",
      closed: "This conversation was closed. Write again to start a new one.",
      backToBot: "You're chatting with our assistant again.",
      sending: "Sending…", waiting: "Waiting for connection…", notSent: "Not sent: {detail}",
      queued: "Sent — saving shortly", slowDown: "Slow down a little — sending shortly…",
      retrying: "Retrying…", slowDownTap: "Slow down a little — tap to send again",
      notSentTap: "Not sent — tap to send again", tooBig: "a file is at most {size}",
      empty: "the file is empty", refused: "refused",
      tooLong: "too long (at most {n} characters)", noFiles: "this chat takes no files",
      notYours: "this conversation belongs to someone else", file: "file",
      newConversation: "New conversation", seen: "Seen",
      teamTyping: "Our team is typing", botTyping: "The assistant is typing",
      nameTyping: "{name} is typing",
      away: "Our team is away right now{back}. Leave a message: we'll answer here.",
      back: " and back {when}",
      today: "today at {time}", tomorrow: "tomorrow at {time}", onDay: "on {day} at {time}",
      usually: " They usually answer within {within}.",
      fewMinutes: "a few minutes", minutes: "about {n} minutes", anHour: "about an hour",
      hours: "about {n} hours", aDay: "a day", days: "about {n} days",
    },
    fr: {
      title: "Discutons", greeting: "Bonjour ! Comment pouvons-nous vous aider ?",
      openChat: "Ouvrir le chat : {title}", closeChat: "Fermer le chat",
      connecting: "Connexion…", online: "En ligne", reconnected: "Reconnecté",
      lost: "Connexion perdue. Reconnexion…", reconnecting: "Reconnexion…",
      attempt: "Reconnexion… (essai {n})", offline: "Hors ligne. Reconnexion…",
      unavailable: "Chat indisponible sur ce site",
      cantReach: "Impossible de joindre le chat. Nouvel essai…",
      earlier: "Afficher les messages précédents",
      scores: ["Très mauvais", "Mauvais", "Correct", "Bien", "Très bien"],
      scoreLabel: "{n} sur 5 : {word}",
      rateThis: "Comment s'est passée cette conversation ?",
      rateLast: "Comment s'est passée votre dernière conversation ?",
      anythingToAdd: "Merci ! Autre chose à ajouter ? (facultatif)", send: "Envoyer",
      thanks: "Merci pour votre avis.",
      tooManyTries: "Trop d'essais d'affilée. Patientez un instant, puis réessayez.",
      ratingFailed: "Votre note n'a pas pu être envoyée. Vérifiez votre connexion et réessayez.",
      left: "{n} restants", placeholder: "Écrivez un message…", message: "Message",
      sendFile: "Envoyer un fichier", human: "Parler à une personne",
      escalation: "Je voudrais parler à une personne, s'il vous plaît.",
      bot: "Assistant", agent: "Équipe", user: "Vous",
      escalated: "Nous avons demandé à une personne de notre équipe de vous rejoindre. Elle vous répondra ici.",
      joined: "Une personne de notre équipe a rejoint la conversation.",
      closed: "Cette conversation a été fermée. Écrivez de nouveau pour en commencer une autre.",
      backToBot: "Vous discutez de nouveau avec notre assistant.",
      sending: "Envoi…", waiting: "En attente de connexion…", notSent: "Non envoyé : {detail}",
      queued: "Envoyé — enregistrement imminent",
      slowDown: "Un peu moins vite — envoi dans un instant…", retrying: "Nouvel essai…",
      slowDownTap: "Un peu moins vite — touchez pour renvoyer",
      notSentTap: "Non envoyé — touchez pour renvoyer",
      tooBig: "un fichier fait au plus {size}", empty: "le fichier est vide", refused: "refusé",
      tooLong: "trop long ({n} caractères au plus)",
      noFiles: "ce chat n'accepte pas de fichiers",
      notYours: "cette conversation appartient à quelqu'un d'autre", file: "fichier",
      newConversation: "Nouvelle conversation", seen: "Vu",
      teamTyping: "Notre équipe écrit", botTyping: "L'assistant écrit",
      nameTyping: "{name} écrit",
      away: "Notre équipe est absente pour le moment{back}. Laissez un message : nous vous répondrons ici.",
      back: " et de retour {when}",
      today: "aujourd'hui à {time}", tomorrow: "demain à {time}", onDay: "{day} à {time}",
      usually: " Nous répondons généralement en {within}.",
      fewMinutes: "quelques minutes", minutes: "environ {n} minutes",
      anHour: "environ une heure", hours: "environ {n} heures", aDay: "un jour",
      days: "environ {n} jours",
    },
    es: {
      title: "Chatea con nosotros", greeting: "¡Hola! ¿En qué podemos ayudarte hoy?",
      openChat: "Abrir el chat: {title}", closeChat: "Cerrar el chat",
      connecting: "Conectando…", online: "En línea", reconnected: "Reconectado",
      lost: "Conexión perdida. Reconectando…", reconnecting: "Reconectando…",
      attempt: "Reconectando… (intento {n})", offline: "Sin conexión. Reconectando…",
      unavailable: "Chat no disponible en este sitio",
      cantReach: "No se puede conectar con el chat. Reintentando…",
      earlier: "Mostrar mensajes anteriores",
      scores: ["Muy mal", "Mal", "Regular", "Bien", "Muy bien"], scoreLabel: "{n} de 5: {word}",
      rateThis: "¿Qué tal fue esta conversación?", rateLast: "¿Qué tal fue tu última conversación?",
      anythingToAdd: "¡Gracias! ¿Algo que añadir? (opcional)", send: "Enviar",
      thanks: "Gracias por tu opinión.",
      tooManyTries: "Demasiados intentos seguidos. Espera un momento e inténtalo de nuevo.",
      ratingFailed: "No se pudo enviar tu valoración. Comprueba tu conexión e inténtalo de nuevo.",
      left: "quedan {n}", placeholder: "Escribe un mensaje…", message: "Mensaje",
      sendFile: "Enviar un archivo", human: "Hablar con una persona",
      escalation: "Me gustaría hablar con una persona, por favor.",
      bot: "Asistente", agent: "Equipo", user: "Tú",
      escalated: "Hemos pedido a una persona de nuestro equipo que se una. Te responderá aquí.",
      joined: "Una persona de nuestro equipo se ha unido al chat.",
      closed: "Esta conversación se ha cerrado. Escribe de nuevo para empezar otra.",
      backToBot: "Vuelves a hablar con nuestro asistente.",
      sending: "Enviando…", waiting: "Esperando conexión…", notSent: "No enviado: {detail}",
      queued: "Enviado — se guardará en breve",
      slowDown: "Un poco más despacio — se enviará en breve…", retrying: "Reintentando…",
      slowDownTap: "Un poco más despacio — toca para reenviar",
      notSentTap: "No enviado — toca para reenviar",
      tooBig: "un archivo ocupa como máximo {size}", empty: "el archivo está vacío",
      refused: "rechazado", newConversation: "Nueva conversación", seen: "Visto",
      tooLong: "demasiado largo (máximo {n} caracteres)",
      noFiles: "este chat no admite archivos",
      notYours: "esta conversación pertenece a otra persona", file: "archivo",
      teamTyping: "Nuestro equipo está escribiendo", botTyping: "El asistente está escribiendo",
      nameTyping: "{name} está escribiendo",
      away: "Nuestro equipo no está disponible ahora{back}. Deja un mensaje: te responderemos aquí.",
      back: " y vuelve {when}",
      today: "hoy a las {time}", tomorrow: "mañana a las {time}", onDay: "el {day} a las {time}",
      usually: " Solemos responder en {within}.",
      fewMinutes: "unos minutos", minutes: "unos {n} minutos", anHour: "alrededor de una hora",
      hours: "unas {n} horas", aDay: "un día", days: "unos {n} días",
    },
    de: {
      title: "Schreiben Sie uns", greeting: "Hallo! Wie können wir Ihnen heute helfen?",
      openChat: "Chat öffnen: {title}", closeChat: "Chat schließen",
      connecting: "Verbinden…", online: "Online", reconnected: "Wieder verbunden",
      lost: "Verbindung verloren. Neuer Versuch…", reconnecting: "Neuer Verbindungsversuch…",
      attempt: "Neuer Verbindungsversuch… (Versuch {n})", offline: "Offline. Neuer Versuch…",
      unavailable: "Chat auf dieser Website nicht verfügbar",
      cantReach: "Chat nicht erreichbar. Neuer Versuch…",
      earlier: "Frühere Nachrichten anzeigen",
      scores: ["Sehr schlecht", "Schlecht", "Okay", "Gut", "Sehr gut"],
      scoreLabel: "{n} von 5: {word}",
      rateThis: "Wie war dieses Gespräch?", rateLast: "Wie war Ihr letztes Gespräch?",
      anythingToAdd: "Danke! Möchten Sie etwas hinzufügen? (optional)", send: "Senden",
      thanks: "Danke für Ihr Feedback.",
      tooManyTries: "Zu viele Versuche hintereinander. Warten Sie kurz und versuchen Sie es dann erneut.",
      ratingFailed: "Ihre Bewertung konnte nicht gesendet werden. Prüfen Sie Ihre Verbindung und versuchen Sie es erneut.",
      left: "noch {n}", placeholder: "Nachricht schreiben…", message: "Nachricht",
      sendFile: "Datei senden", human: "Mit einer Person sprechen",
      escalation: "Ich möchte bitte mit einer Person sprechen.",
      bot: "Assistent", agent: "Team", user: "Sie",
      escalated: "Wir haben eine Person aus unserem Team gebeten, dazuzukommen. Sie antwortet hier.",
      joined: "Eine Person aus unserem Team ist dem Chat beigetreten.",
      closed: "Dieses Gespräch wurde beendet. Schreiben Sie erneut, um ein neues zu beginnen.",
      backToBot: "Sie chatten wieder mit unserem Assistenten.",
      sending: "Wird gesendet…", waiting: "Warte auf Verbindung…",
      notSent: "Nicht gesendet: {detail}", queued: "Gesendet — wird gleich gespeichert",
      slowDown: "Etwas langsamer — wird gleich gesendet…", retrying: "Neuer Versuch…",
      slowDownTap: "Etwas langsamer — zum erneuten Senden tippen",
      notSentTap: "Nicht gesendet — zum erneuten Senden tippen",
      tooBig: "eine Datei hat höchstens {size}", empty: "die Datei ist leer",
      refused: "abgelehnt", newConversation: "Neues Gespräch", seen: "Gesehen",
      tooLong: "zu lang (höchstens {n} Zeichen)", noFiles: "dieser Chat nimmt keine Dateien an",
      notYours: "dieses Gespräch gehört jemand anderem", file: "Datei",
      teamTyping: "Unser Team schreibt", botTyping: "Der Assistent schreibt",
      nameTyping: "{name} schreibt",
      away: "Unser Team ist gerade nicht da{back}. Hinterlassen Sie eine Nachricht: Wir antworten hier.",
      back: " und ist {when} zurück",
      today: "heute um {time}", tomorrow: "morgen um {time}", onDay: "am {day} um {time}",
      usually: " Wir antworten meist innerhalb von {within}.",
      fewMinutes: "wenigen Minuten", minutes: "etwa {n} Minuten", anHour: "etwa einer Stunde",
      hours: "etwa {n} Stunden", aDay: "einem Tag", days: "etwa {n} Tagen",
    },
    it: {
      title: "Scrivici", greeting: "Ciao! Come possiamo aiutarti oggi?",
      openChat: "Apri la chat: {title}", closeChat: "Chiudi la chat",
      connecting: "Connessione…", online: "Online", reconnected: "Riconnesso",
      lost: "Connessione persa. Riconnessione…", reconnecting: "Riconnessione…",
      attempt: "Riconnessione… (tentativo {n})", offline: "Offline. Riconnessione…",
      unavailable: "Chat non disponibile su questo sito",
      cantReach: "Impossibile raggiungere la chat. Nuovo tentativo…",
      earlier: "Mostra i messaggi precedenti",
      scores: ["Pessima", "Scarsa", "Discreta", "Buona", "Ottima"], scoreLabel: "{n} su 5: {word}",
      rateThis: "Com'è andata questa conversazione?",
      rateLast: "Com'è andata la tua ultima conversazione?",
      anythingToAdd: "Grazie! Vuoi aggiungere qualcosa? (facoltativo)", send: "Invia",
      thanks: "Grazie per il tuo parere.",
      tooManyTries: "Troppi tentativi di seguito. Attendi un momento, poi riprova.",
      ratingFailed: "Impossibile inviare la tua valutazione. Controlla la connessione e riprova.",
      left: "ne restano {n}", placeholder: "Scrivi un messaggio…", message: "Messaggio",
      sendFile: "Invia un file", human: "Parla con una persona",
      escalation: "Vorrei parlare con una persona, per favore.",
      bot: "Assistente", agent: "Team", user: "Tu",
      escalated: "Abbiamo chiesto a una persona del nostro team di unirsi. Ti risponderà qui.",
      joined: "Una persona del nostro team si è unita alla chat.",
      closed: "Questa conversazione è stata chiusa. Scrivi di nuovo per iniziarne un'altra.",
      backToBot: "Stai di nuovo parlando con il nostro assistente.",
      sending: "Invio…", waiting: "In attesa di connessione…", notSent: "Non inviato: {detail}",
      queued: "Inviato — salvataggio a breve", slowDown: "Un po' più piano — invio a breve…",
      retrying: "Nuovo tentativo…", slowDownTap: "Un po' più piano — tocca per inviare di nuovo",
      notSentTap: "Non inviato — tocca per inviare di nuovo",
      tooBig: "un file è al massimo {size}", empty: "il file è vuoto", refused: "rifiutato",
      tooLong: "troppo lungo (al massimo {n} caratteri)",
      noFiles: "questa chat non accetta file",
      notYours: "questa conversazione appartiene a un'altra persona", file: "file",
      newConversation: "Nuova conversazione", seen: "Visto",
      teamTyping: "Il nostro team sta scrivendo", botTyping: "L'assistente sta scrivendo",
      nameTyping: "{name} sta scrivendo",
      away: "Il nostro team al momento non è disponibile{back}. Lascia un messaggio: ti risponderemo qui.",
      back: " e torna {when}",
      today: "oggi alle {time}", tomorrow: "domani alle {time}", onDay: "{day} alle {time}",
      usually: " Di solito rispondiamo entro {within}.",
      fewMinutes: "pochi minuti", minutes: "circa {n} minuti", anHour: "circa un'ora",
      hours: "circa {n} ore", aDay: "un giorno", days: "circa {n} giorni",
    },
    pt: {
      title: "Fale conosco", greeting: "Olá! Como podemos ajudar hoje?",
      openChat: "Abrir o chat: {title}", closeChat: "Fechar o chat",
      connecting: "Conectando…", online: "Online", reconnected: "Reconectado",
      lost: "Conexão perdida. Reconectando…", reconnecting: "Reconectando…",
      attempt: "Reconectando… (tentativa {n})", offline: "Sem conexão. Reconectando…",
      unavailable: "Chat indisponível neste site",
      cantReach: "Não foi possível acessar o chat. Tentando novamente…",
      earlier: "Mostrar mensagens anteriores",
      scores: ["Muito ruim", "Ruim", "Razoável", "Boa", "Muito boa"],
      scoreLabel: "{n} de 5: {word}",
      rateThis: "Como foi esta conversa?", rateLast: "Como foi a sua última conversa?",
      anythingToAdd: "Obrigado! Algo a acrescentar? (opcional)", send: "Enviar",
      thanks: "Obrigado pela sua opinião.",
      tooManyTries: "Muitas tentativas seguidas. Aguarde um momento e tente novamente.",
      ratingFailed: "Não foi possível enviar a sua avaliação. Verifique a sua conexão e tente novamente.",
      left: "restam {n}", placeholder: "Escreva uma mensagem…", message: "Mensagem",
      sendFile: "Enviar um arquivo", human: "Falar com uma pessoa",
      escalation: "Gostaria de falar com uma pessoa, por favor.",
      bot: "Assistente", agent: "Equipe", user: "Você",
      escalated: "Pedimos a uma pessoa da nossa equipe que participe. Ela responderá aqui.",
      joined: "Uma pessoa da nossa equipe entrou no chat.",
      closed: "Esta conversa foi encerrada. Escreva novamente para iniciar outra.",
      backToBot: "Você está conversando novamente com o nosso assistente.",
      sending: "Enviando…", waiting: "Aguardando conexão…", notSent: "Não enviada: {detail}",
      queued: "Enviada — será salva em breve", slowDown: "Mais devagar — enviando em breve…",
      retrying: "Tentando novamente…", slowDownTap: "Mais devagar — toque para enviar novamente",
      notSentTap: "Não enviada — toque para enviar novamente",
      tooBig: "um arquivo tem no máximo {size}", empty: "o arquivo está vazio",
      refused: "recusado", newConversation: "Nova conversa", seen: "Vista",
      tooLong: "longa demais (no máximo {n} caracteres)",
      noFiles: "este chat não aceita arquivos",
      notYours: "esta conversa pertence a outra pessoa", file: "arquivo",
      teamTyping: "Nossa equipe está digitando", botTyping: "O assistente está digitando",
      nameTyping: "{name} está digitando",
      away: "Nossa equipe não está disponível agora{back}. Deixe uma mensagem: responderemos aqui.",
      back: " e volta {when}",
      today: "hoje às {time}", tomorrow: "amanhã às {time}", onDay: "{day} às {time}",
      usually: " Costumamos responder em {within}.",
      fewMinutes: "poucos minutos", minutes: "cerca de {n} minutos", anHour: "cerca de uma hora",
      hours: "cerca de {n} horas", aDay: "um dia", days: "cerca de {n} dias",
    },
    nl: {
      title: "Chat met ons", greeting: "Hallo! Waarmee kunnen we je vandaag helpen?",
      openChat: "Chat openen: {title}", closeChat: "Chat sluiten",
      connecting: "Verbinden…", online: "Online", reconnected: "Opnieuw verbonden",
      lost: "Verbinding verbroken. Opnieuw verbinden…", reconnecting: "Opnieuw verbinden…",
      attempt: "Opnieuw verbinden… (poging {n})", offline: "Offline. Opnieuw verbinden…",
      unavailable: "Chat niet beschikbaar op deze site",
      cantReach: "De chat is niet bereikbaar. Nieuwe poging…",
      earlier: "Eerdere berichten tonen",
      scores: ["Heel slecht", "Slecht", "Redelijk", "Goed", "Heel goed"],
      scoreLabel: "{n} van 5: {word}",
      rateThis: "Hoe was dit gesprek?", rateLast: "Hoe was je laatste gesprek?",
      anythingToAdd: "Bedankt! Nog iets toe te voegen? (optioneel)", send: "Versturen",
      thanks: "Bedankt voor je feedback.",
      tooManyTries: "Te veel pogingen achter elkaar. Wacht even en probeer het dan opnieuw.",
      ratingFailed: "Je beoordeling kon niet worden verstuurd. Controleer je verbinding en probeer het opnieuw.",
      left: "nog {n}", placeholder: "Typ een bericht…", message: "Bericht",
      sendFile: "Een bestand versturen", human: "Met een medewerker praten",
      escalation: "Ik wil graag met een medewerker praten.",
      bot: "Assistent", agent: "Team", user: "Jij",
      escalated: "We hebben een medewerker van ons team gevraagd om mee te doen. Die antwoordt hier.",
      joined: "Een medewerker van ons team neemt nu deel aan de chat.",
      closed: "Dit gesprek is gesloten. Schrijf opnieuw om een nieuw gesprek te beginnen.",
      backToBot: "Je chat weer met onze assistent.",
      sending: "Versturen…", waiting: "Wachten op verbinding…", notSent: "Niet verstuurd: {detail}",
      queued: "Verstuurd — wordt zo opgeslagen", slowDown: "Iets rustiger — wordt zo verstuurd…",
      retrying: "Nieuwe poging…", slowDownTap: "Iets rustiger — tik om opnieuw te versturen",
      notSentTap: "Niet verstuurd — tik om opnieuw te versturen",
      tooBig: "een bestand is maximaal {size}", empty: "het bestand is leeg", refused: "geweigerd",
      tooLong: "te lang (maximaal {n} tekens)", noFiles: "deze chat neemt geen bestanden aan",
      notYours: "dit gesprek is van iemand anders", file: "bestand",
      newConversation: "Nieuw gesprek", seen: "Gezien",
      teamTyping: "Ons team typt", botTyping: "De assistent typt", nameTyping: "{name} typt",
      away: "Ons team is er nu niet{back}. Laat een bericht achter: we antwoorden hier.",
      back: " en is {when} terug",
      today: "vandaag om {time}", tomorrow: "morgen om {time}", onDay: "op {day} om {time}",
      usually: " We antwoorden meestal binnen {within}.",
      fewMinutes: "een paar minuten", minutes: "ongeveer {n} minuten", anHour: "ongeveer een uur",
      hours: "ongeveer {n} uur", aDay: "een dag", days: "ongeveer {n} dagen",
    },
  };
  function chooseLanguage(wanted) {
    for (var i = 0; i < wanted.length; i++) {
      var code = String(wanted[i] || "").toLowerCase().split(/[-_]/)[0];
      if (code && Object.prototype.hasOwnProperty.call(TEXTS, code)) return code;
    }
    return "en";
  }
  var LANG = chooseLanguage([data.lang, document.documentElement.lang,
                             navigator.language].concat(navigator.languages || []));
  var T = TEXTS[LANG];
  // T's text for `key` with {name} filled from `vars`.
  function t(key, vars) {
    return String(T[key]).replace(/\{(\w+)\}/g, function (all, name) {
      return vars && Object.prototype.hasOwnProperty.call(vars, name) ? String(vars[name]) : all;
    });
  }

  var OPTIONS = {
    title: (data.title || T.title).slice(0, 60),
    color: validColor(data.color) || "#4f46e5",
    position: data.position === "left" ? "left" : "right",
    greeting: (data.greeting || T.greeting).slice(0, 300),
    name: data.name || null,
    // Identity verification: the site's customer id, HMAC-SHA256(CHAT_IDENTITY_SECRET, id)
    // from its server, and their e-mail (README, "Identity").
    userId: data.userId || null,
    userHash: data.userHash || null,
    email: data.email || null,
  };
  var STORE_KEY = "switchboard-chat:" + BASE;
  var LABELS = { bot: T.bot, agent: T.agent, system: "", user: T.user };
  var BANNERS = { escalated: T.escalated, human: T.joined, closed: T.closed, bot: T.backToBot };
  var ESCALATION_TEXT = T.escalation;

  // -- persistent state (localStorage, or memory where storage is blocked) ----------------
  var memory = {};
  function loadState() {
    try {
      var raw = window.localStorage.getItem(STORE_KEY);
      if (raw) return sanitize(JSON.parse(raw));
    } catch (e) { /* storage blocked or corrupt: start afresh */ }
    return sanitize(memory);
  }
  function sanitize(s) {
    s = s && typeof s === "object" ? s : {};
    return {
      visitorId: typeof s.visitorId === "string" ? s.visitorId : null,
      verified: s.verified === true, // the visitor was the site's customer, signed in
      token: typeof s.token === "string" ? s.token : null,
      conversationId: typeof s.conversationId === "number" ? s.conversationId : null,
      lastId: typeof s.lastId === "number" ? s.lastId : 0,
      outbox: Array.isArray(s.outbox) ? s.outbox.filter(function (i) {
        return i && typeof i.client_id === "string" && typeof i.content === "string";
      }) : [],
    };
  }
  var state = loadState();
  function save() {
    memory = state;
    try { window.localStorage.setItem(STORE_KEY, JSON.stringify(state)); } catch (e) { /* full */ }
  }

  // -- DOM helpers (text only: no innerHTML anywhere) -------------------------------------
  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text != null) node.textContent = text;
    return node;
  }
  function icon(paths, size) {
    var ns = "http://www.w3.org/2000/svg";
    var svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("width", size || 24);
    svg.setAttribute("height", size || 24);
    svg.setAttribute("aria-hidden", "true");
    paths.forEach(function (d) {
      var p = document.createElementNS(ns, "path");
      p.setAttribute("d", d);
      svg.appendChild(p);
    });
    return svg;
  }
  function validColor(value) {
    if (!value) return null;
    try { return window.CSS && CSS.supports("color", value) ? value : null; } catch (e) { return null; }
  }
  function newId() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    var bytes = new Uint8Array(16);
    (window.crypto || window.msCrypto).getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) {
      return ("0" + b.toString(16)).slice(-2);
    }).join("");
  }
  function clock(iso) {
    var d = iso ? new Date(iso) : new Date();
    return isNaN(d) ? "" : d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  // -- the widget's DOM, in a shadow root so the page's CSS and ours never mix -----------
  var host = el("div");
  host.id = "switchboard-chat";
  host.style.setProperty("--sb-accent", OPTIONS.color);
  host.style.display = "none"; // until the stylesheet is in
  var root = host.attachShadow ? host.attachShadow({ mode: "open" }) : host;
  var css = el("link");
  css.rel = "stylesheet";
  css.href = BASE + "/chat/static/widget.css";
  css.onload = css.onerror = function () { host.style.removeProperty("display"); };
  root.appendChild(css);

  var frame = el("div", "sb-root sb-" + OPTIONS.position);
  var bubble = el("button", "sb-bubble");
  bubble.type = "button";
  bubble.setAttribute("aria-label", t("openChat", { title: OPTIONS.title }));
  bubble.setAttribute("aria-expanded", "false");
  bubble.appendChild(icon(["M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H8l-4 4V6a2 2 0 0 1 2-2z"], 28));
  var badge = el("span", "sb-badge");
  badge.hidden = true;
  bubble.appendChild(badge);

  var panel = el("section", "sb-panel");
  panel.hidden = true;
  panel.setAttribute("role", "dialog");
  panel.setAttribute("aria-label", OPTIONS.title);

  // Not a <header>: the page's own header is its banner landmark, the chat is a dialog.
  var header = el("div", "sb-header");
  var heading = el("div", "sb-heading");
  heading.appendChild(el("div", "sb-title", OPTIONS.title));
  var status = el("div", "sb-status", T.connecting);
  status.setAttribute("role", "status");
  status.dataset.state = "connecting";
  heading.appendChild(status);
  var closeBtn = el("button", "sb-close");
  closeBtn.type = "button";
  closeBtn.setAttribute("aria-label", T.closeChat);
  closeBtn.appendChild(icon(["M6 6l12 12M18 6L6 18"], 20));
  header.appendChild(heading);
  header.appendChild(closeBtn);

  var banner = el("div", "sb-banner");
  banner.hidden = true;
  banner.setAttribute("role", "status");
  // Outside the business hours: when the team is back (the session's "hours").
  var away = el("div", "sb-away");
  away.hidden = true;

  var scroller = el("div", "sb-scroll");
  var earlier = el("button", "sb-earlier", T.earlier);
  earlier.type = "button";
  earlier.hidden = true;
  var list = el("ol", "sb-messages");
  list.setAttribute("aria-live", "polite");
  var greeting = el("li", "sb-msg sb-from-bot sb-greeting");
  greeting.appendChild(el("div", "sb-text", OPTIONS.greeting));
  list.appendChild(greeting);
  scroller.appendChild(earlier);
  scroller.appendChild(list);

  // "How was this conversation?": a card after the messages once the conversation is closed.
  var SCORES = T.scores;
  var card = el("div", "sb-rating");
  card.hidden = true;
  card.setAttribute("role", "group");
  card.setAttribute("aria-labelledby", "sb-rating-q");
  var cardQuestion = el("p", "sb-rating-q", T.rateThis);
  cardQuestion.id = "sb-rating-q";
  var scoreRow = el("div", "sb-scores");
  var scoreButtons = SCORES.map(function (word, i) {
    var b = el("button", "sb-score", String(i + 1));
    b.type = "button";
    b.dataset.score = String(i + 1);
    b.setAttribute("aria-label", t("scoreLabel", { n: i + 1, word: word }));
    b.setAttribute("aria-pressed", "false");
    scoreRow.appendChild(b);
    return b;
  });
  var scale = el("div", "sb-scale"); // the ends of the scale, for the eye (each button says it)
  scale.setAttribute("aria-hidden", "true");
  scale.appendChild(el("span", null, SCORES[0]));
  scale.appendChild(el("span", null, SCORES[4]));
  var more = el("form", "sb-rating-more");
  more.hidden = true;
  var moreLabel = el("label", "sb-rating-label", T.anythingToAdd);
  moreLabel.htmlFor = "sb-rating-comment";
  var comment = el("textarea", "sb-rating-comment");
  comment.id = "sb-rating-comment";
  comment.rows = 3;
  comment.maxLength = 500;
  var moreActions = el("div", "sb-rating-actions");
  var commentLeft = el("span", "sb-rating-left");
  var commentSend = el("button", "sb-rating-send", T.send);
  commentSend.type = "submit";
  moreActions.appendChild(commentLeft);
  moreActions.appendChild(commentSend);
  more.appendChild(moreLabel);
  more.appendChild(comment);
  more.appendChild(moreActions);
  var cardNote = el("p", "sb-rating-note"); // thanks, or what went wrong
  cardNote.setAttribute("role", "status");
  cardNote.tabIndex = -1;
  card.appendChild(cardQuestion);
  card.appendChild(scoreRow);
  card.appendChild(scale);
  card.appendChild(more);
  card.appendChild(cardNote);
  scroller.appendChild(card);

  var typing = el("div", "sb-typing");
  typing.hidden = true;
  typing.setAttribute("aria-live", "polite");

  var form = el("form", "sb-compose");
  var input = el("textarea", "sb-input");
  input.rows = 1;
  input.maxLength = 1000;
  input.placeholder = T.placeholder;
  input.setAttribute("aria-label", T.message);
  var send = el("button", "sb-send");
  send.type = "submit";
  send.setAttribute("aria-label", T.send);
  send.appendChild(icon(["M3 20l18-8L3 4v6l12 2-12 2z"], 20));
  // Files: a paperclip (shown once the server says it takes files) or a paste.
  var attach = el("button", "sb-attach");
  attach.type = "button";
  attach.setAttribute("aria-label", T.sendFile);
  attach.title = T.sendFile;
  attach.hidden = true;
  attach.appendChild(icon(["M16.5 6.5l-7.8 7.8a2 2 0 0 0 2.8 2.8l8-8a4 4 0 0 0-5.6-5.6l-8 8" +
                           "a6 6 0 0 0 8.5 8.5l7.1-7.1"], 20));
  var picker = el("input");
  picker.type = "file";
  picker.hidden = true;
  picker.tabIndex = -1;
  form.appendChild(attach);
  form.appendChild(picker);
  form.appendChild(input);
  form.appendChild(send);

  var footer = el("div", "sb-footer");
  var human = el("button", "sb-human", T.human);
  human.type = "button";
  var counter = el("span", "sb-counter");
  footer.appendChild(human);
  footer.appendChild(counter);

  panel.appendChild(header);
  panel.appendChild(away);
  panel.appendChild(banner);
  panel.appendChild(scroller);
  panel.appendChild(typing);
  panel.appendChild(form);
  panel.appendChild(footer);
  frame.appendChild(panel);
  frame.appendChild(bubble);
  root.appendChild(frame);
  (document.body || document.documentElement).appendChild(host);

  // -- rendering ----------------------------------------------------------------------------
  var byId = new Map();        // stored message id -> <li>
  var byClient = new Map();    // client_id -> <li> (pending or stored)
  var firstId = null;
  var convState = "bot";
  var unread = 0;
  var isOpen = false;

  function nearBottom(slack) {
    return scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < (slack || 80);
  }
  function toBottom() { scroller.scrollTop = scroller.scrollHeight; }

  // A file sent with a message (an agent's attachment): an image is shown, anything else
  // is a link to download it. Only http(s) addresses become links.
  function safeUrl(url) {
    try {
      var parsed = new URL(url, location.href);
      return parsed.protocol === "https:" || parsed.protocol === "http:" ? parsed.href : null;
    } catch (e) {
      return null;
    }
  }
  function fileSize(bytes) {
    if (!(bytes > 0)) return "";
    if (bytes < 1024) return bytes + " B";
    if (bytes < 1024 * 1024) return Math.round(bytes / 1024) + " KB";
    return (bytes / (1024 * 1024)).toFixed(1) + " MB";
  }
  function attachmentNode(a) {
    a = a || {};
    var raw = a.url || (a.payload && a.payload.url);
    var url = typeof raw === "string" && raw ? safeUrl(raw) : null;
    var name = a.name || a.title || T.file;
    var size = fileSize(a.size);
    var li = el("li", "sb-attachment");
    if (!url) { // not sent yet, or no address to open
      li.textContent = "📎 " + name + (size ? " (" + size + ")" : "");
      return li;
    }
    var link = el("a", "sb-file");
    link.href = url;
    link.target = "_blank";
    link.rel = "noopener noreferrer";
    if (a.type === "image") {
      var img = el("img", "sb-image");
      img.src = url;
      img.alt = name;
      img.loading = "lazy";
      // It grew the thread as it came: one who was at the newest message stays there.
      img.addEventListener("load", function () { if (nearBottom(80 + img.offsetHeight)) toBottom(); });
      link.appendChild(img);
    } else {
      link.textContent = "📎 " + name + (size ? " (" + size + ")" : "");
    }
    li.appendChild(link);
    return li;
  }

  function bubbleFor(m, pending) {
    var li = el("li", "sb-msg sb-from-" + m.sender_type);
    if (m.kind === "escalation" || m.kind === "escalate") li.classList.add("sb-escalation");
    if (m.sender_type !== "user" && m.sender_type !== "system") {
      // An agent's own name when they gave one (Settings), else "Team".
      var who = m.sender_type === "agent" && typeof m.sender_name === "string" && m.sender_name
        ? m.sender_name : LABELS[m.sender_type] || "";
      li.appendChild(el("div", "sb-who", who));
    }
    if (m.content || !(m.attachments && m.attachments.length)) {
      li.appendChild(el("div", "sb-text", m.content));
    }
    if (m.attachments && m.attachments.length) {
      var files = el("ul", "sb-attachments");
      for (var i = 0; i < m.attachments.length; i++) files.appendChild(attachmentNode(m.attachments[i]));
      li.appendChild(files);
    }
    var meta = el("div", "sb-meta", pending ? T.sending : clock(m.created_at));
    li.appendChild(meta);
    return li;
  }

  function place(li, id) {
    // Keep stored messages in id order; pending ones stay at the end.
    var after = null;
    if (id != null) {
      var nodes = list.querySelectorAll("li[data-id]");
      for (var i = 0; i < nodes.length; i++) {
        if (Number(nodes[i].dataset.id) > id) { after = nodes[i]; break; }
      }
      if (!after) after = list.querySelector("li.sb-pending");
    }
    list.insertBefore(li, after);
  }

  function render(m) {
    if (byId.has(m.id)) return false;
    var stick = nearBottom();
    var li = m.client_id ? byClient.get(m.client_id) : null;
    if (li && m.attachments && m.attachments.length) { // a file: drawn again, with its link
      li.remove();
      li = null;
    }
    if (li) { // our own message: the pending bubble becomes the stored one
      li.classList.remove("sb-pending", "sb-failed", "sb-queued");
      li.querySelector(".sb-meta").textContent = clock(m.created_at);
      li.remove();
    } else {
      li = bubbleFor(m, false);
      if (m.client_id) byClient.set(m.client_id, li);
    }
    li.dataset.id = m.id;
    if (typeof m.conversation_id === "number") li.dataset.conversation = String(m.conversation_id);
    byId.set(m.id, li);
    place(li, m.id);
    if (firstId === null || m.id < firstId) firstId = m.id;
    if (stick || m.sender_type === "user") toBottom();
    return true;
  }

  function renderPending(item) {
    var li = byClient.get(item.client_id);
    if (!li) {
      li = bubbleFor({ sender_type: "user", content: item.content, kind: item.kind,
                       attachments: item.attachments }, true);
      li.classList.add("sb-pending");
      byClient.set(item.client_id, li);
      list.appendChild(li);
    }
    li.querySelector(".sb-meta").textContent = connected ? T.sending : T.waiting;
    toBottom();
    return li;
  }

  // A refusal from the server (`{error, detail, status}`, with the numbers some carry:
  // `limit` in characters, `max_bytes` for files) in the visitor's words: its `detail` is
  // English, for developers. One this widget does not know is just "refused".
  function refusal(r) {
    r = r || {};
    switch (r.error) {
      case "too_long": // a message (or a reason) longer than the server takes
      case "too_large": // a file, or a rating's comment
        if (typeof r.max_bytes === "number") return t("tooBig", { size: fileSize(r.max_bytes) });
        if (typeof r.limit === "number") return t("tooLong", { n: r.limit });
        break;
      case "forbidden": // the chat takes no files (max_bytes 0), or the conversation is not theirs
        return r.max_bytes === 0 ? T.noFiles : T.notYours;
    }
    return T.refused;
  }

  function markFailed(item, detail) {
    var li = renderPending(item);
    li.classList.remove("sb-pending");
    li.classList.add("sb-failed");
    li.querySelector(".sb-meta").textContent = t("notSent", { detail: detail });
  }

  function markQueued(item) { // the store is down: received and kept, saved when it is back
    var li = renderPending(item);
    li.classList.remove("sb-pending", "sb-failed");
    li.classList.add("sb-queued");
    li.querySelector(".sb-meta").textContent = T.queued;
  }

  var provisional = new Set(); // keys of bot replies shown while the store was down
  function receiveProvisional(m) {
    if (provisional.has(m.provisional)) return;
    provisional.add(m.provisional);
    var stick = nearBottom();
    var li = bubbleFor(m, false);
    li.classList.add("sb-provisional"); // not stored yet: it will be once the store is back
    list.insertBefore(li, list.querySelector("li.sb-pending"));
    if (stick) toBottom();
    showTyping("bot", false);
    if (!isOpen) { unread += 1; badge.textContent = unread > 9 ? "9+" : String(unread); badge.hidden = false; }
  }

  function receive(m) {
    if (m && m.id === null && typeof m.provisional === "string") { receiveProvisional(m); return; }
    if (!m || typeof m.id !== "number" || deletedIds.has(m.conversation_id)) return;
    if (state.conversationId !== m.conversation_id) {
      if (state.conversationId !== null && m.conversation_id < state.conversationId) return;
      if (state.conversationId !== null) divider(T.newConversation);
      state.conversationId = m.conversation_id;
      seenId = null;
      applyState("bot", true);
      sayHere();
    }
    if (!render(m)) return;
    if (m.id > state.lastId) state.lastId = m.id;
    save();
    showSeen();
    if (m.sender_type !== "user") {
      reportReceipts();
      showTyping(m.sender_type === "system" ? null : m.sender_type, false);
      if (m.sender_type === "agent" && convState !== "human") applyState("human");
      if (!isOpen) { unread += 1; badge.textContent = unread > 9 ? "9+" : String(unread); badge.hidden = false; }
    }
  }

  // -- "Seen": the newest message a person of the team has read ----------------------------
  // (the socket's `seen` event, and the history's `seen_message_id`). It is shown under the
  // visitor's newest message once that one is read; a seen message stays seen.
  var seenId = null; // of the conversation shown
  function seen(conversationId, messageId) {
    if (conversationId !== state.conversationId || typeof messageId !== "number") return;
    if (seenId !== null && messageId <= seenId) return;
    seenId = messageId;
    showSeen();
  }
  function showSeen() {
    var newest = null; // the visitor's newest stored message in the conversation shown
    byId.forEach(function (li, id) {
      if (li.dataset.conversation === String(state.conversationId) &&
          li.classList.contains("sb-from-user") && (newest === null || id > newest)) newest = id;
    });
    var meta = newest !== null && seenId !== null && newest <= seenId
      ? byId.get(newest).querySelector(".sb-meta") : null;
    var shown = list.querySelector(".sb-seen");
    if (shown && shown.parentNode === meta) return;
    if (shown) shown.remove();
    if (meta) meta.appendChild(el("span", "sb-seen", " · " + T.seen));
  }

  // -- receipts: the team's messages reached this page, or were shown -----------------------
  // The newest one is reported ("delivered" while the panel is closed or the page hidden,
  // "read" once the visitor has it open in front of them), and the agent's page says so
  // under their message, as for Messenger. Each status of a message goes once.
  var receipts = { delivered: 0, read: 0 };
  var receiptTimer = null;
  // -- whether the person is on the site, for the team's pages ------------------------------
  // `here`: the chat open or not, the page in front or not, which page; said when any of it
  // changes (and after connecting), and when an agent's page asks (`presence_check`).
  var hereSaid = null;
  var hereTimer = null;
  var hereAsked = false;
  function sayHere(asked) {
    hereAsked = hereAsked || asked === true;
    clearTimeout(hereTimer);
    hereTimer = setTimeout(function () {
      if (!connected || httpMode || !socket || state.conversationId === null) return;
      var now = { open: isOpen, visible: !document.hidden, page: currentPage() };
      var key = JSON.stringify([state.conversationId, now]);
      if (!hereAsked && key === hereSaid) return;
      if (hereAsked) now.asked = true; // an answer: said even if just said (a new page asks)
      hereSaid = key;
      hereAsked = false;
      socket.emit("here", now);
    }, 300);
  }

  function reportReceipts() {
    sayHere();
    clearTimeout(receiptTimer);
    receiptTimer = setTimeout(function () { sendReceipt(false); }, 300);
  }
  function sendReceipt(again) {
    var conversationId = state.conversationId;
    var newest = null; // the team's newest stored message in the conversation shown
    byId.forEach(function (li, id) {
      if (li.dataset.conversation === String(conversationId) &&
          !li.classList.contains("sb-from-user") && (newest === null || id > newest)) newest = id;
    });
    var status = isOpen && !document.hidden ? "read" : "delivered";
    if (newest === null || receipts[status] >= newest || !connected) return;
    var body = { conversation_id: conversationId, message_id: newest, status: status };
    var done = function (changed) {
      // Nothing moved: the message may still be on its way out (it reaches this page just
      // before the server marks it sent); asked once more a little later.
      if (!changed && again !== true) { receiptTimer = setTimeout(function () { sendReceipt(true); }, 2000); return; }
      receipts[status] = Math.max(receipts[status], newest);
      if (status === "read") receipts.delivered = Math.max(receipts.delivered, newest);
    };
    if (httpMode) {
      api("POST", "/chat/" + conversationId + "/receipts", body).then(function (r) {
        if (r.ok) done(r.data.changed);
      }).catch(function () { /* the next message, or the next poll, reports it again */ });
    } else if (socket) {
      socket.emit("receipt", body, function (ack) { if (ack && ack.ok) done(ack.changed); });
    }
  }
  document.addEventListener("visibilitychange", reportReceipts);

  // -- the conversation deleted by the team ------------------------------------------------
  // (its socket's `deleted` event, or a 404 for the conversation remembered): the thread goes
  // with everything shown about it, and what the visitor typed that is not stored yet stays,
  // to open a new conversation as its first messages.
  var deletedIds = new Set();
  function forgetEarlier(conversationId) {
    // An earlier conversation still shown above a "New conversation" divider: its messages
    // go, and so does a divider left with nothing stored above it.
    list.querySelectorAll('li[data-conversation="' + conversationId + '"]').forEach(function (li) {
      byId.delete(Number(li.dataset.id));
      li.remove();
    });
    byClient.forEach(function (li, clientId) { if (!li.parentNode) byClient.delete(clientId); });
    Array.prototype.slice.call(list.querySelectorAll("li.sb-divider")).forEach(function (li) {
      var before = li.previousElementSibling;
      while (before && !before.dataset.id) before = before.previousElementSibling;
      if (!before) li.remove();
    });
    firstId = null;
    byId.forEach(function (li, id) { if (firstId === null || id < firstId) firstId = id; });
  }
  function forget(conversationId) { // -> whether it was the conversation shown
    deletedIds.add(conversationId);
    if (rating && rating.id === conversationId) hideRating(); // "How was your last…?"
    if (conversationId !== state.conversationId) { forgetEarlier(conversationId); return false; }
    state.conversationId = null;
    state.lastId = 0;
    seenId = null;
    save();
    hideRating();
    Array.prototype.slice.call(list.children).forEach(function (li) {
      var unsent = !li.dataset.id && li.classList.contains("sb-from-user"); // pending, queued, failed
      if (li !== greeting && !unsent) li.remove();
    });
    byClient.forEach(function (li, clientId) { if (!li.parentNode) byClient.delete(clientId); });
    byId.clear();
    provisional.clear();
    firstId = null;
    earlier.hidden = true;
    showTyping(null);
    applyState("bot", true);
    banner.hidden = true;
    human.disabled = state.outbox.some(function (i) { return i.kind === "escalate"; });
    unread = 0;
    badge.hidden = true;
    return true;
  }

  // Signed in or out on the site: another visitor (identity verification). The last one's
  // conversation is not theirs to follow, unless it went with them (someone who signs in
  // takes their conversations along, when they had none open as the customer: `kept`);
  // what a customer signed in typed and did not send goes too (the next person at this
  // browser may be someone else), while what someone typed before signing in goes with them
  // into their customer's conversation.
  function switchVisitor(wasCustomer, kept) {
    if (state.conversationId !== null && state.conversationId === kept) {
      save();
      return;
    }
    if (state.conversationId !== null) forget(state.conversationId);
    state.lastId = 0;
    if (wasCustomer) {
      state.outbox.forEach(function (item) {
        var li = byClient.get(item.client_id);
        if (li) li.remove();
        byClient.delete(item.client_id);
      });
      state.outbox = [];
    }
    save();
  }

  function divider(text) {
    var li = el("li", "sb-divider", text);
    list.appendChild(li);
  }

  // How long the team usually takes to answer (the session's "reply_time", in seconds), said
  // when someone asks for a person while the team is in (out of hours the away note says
  // when it is back).
  var replyTime = null;
  var teamIn = true;
  function waitText() {
    if (replyTime === null || !teamIn) return "";
    var minutes = Math.ceil(replyTime / 60);
    if (minutes > 10) minutes = Math.ceil(minutes / 5) * 5; // 11 to 15 minutes: "15"
    var hours = Math.ceil(replyTime / 3600);
    var days = Math.ceil(replyTime / 86400);
    var within = minutes <= 5 ? T.fewMinutes
      : minutes < 60 ? t("minutes", { n: minutes })
      : hours <= 1 ? T.anHour
      : hours < 24 ? t("hours", { n: hours })
      : days <= 1 ? T.aDay : t("days", { n: days });
    return t("usually", { within: within });
  }

  function applyState(next, quiet) {
    if (next && next !== "closed") hideRating(); // reopened, or a new conversation
    if (!next || next === convState) return;
    var previous = convState;
    convState = next;
    frame.dataset.conversation = next;
    human.disabled = next === "escalated" || next === "human";
    if (quiet || (next === "bot" && previous === "closed")) { banner.hidden = true; return; }
    banner.textContent = (BANNERS[next] || "") + (next === "escalated" ? waitText() : "");
    banner.className = "sb-banner sb-banner-" + next;
    banner.hidden = false;
    if (next === "bot") setTimeout(function () {
      if (convState === "bot") banner.hidden = true;
    }, 6000);
  }

  // -- rating a closed conversation ---------------------------------------------------------
  // Offered once the conversation shown is closed and not rated yet; the score is sent at
  // once, then an optional comment. A new rating replaces the last, so the score can change
  // (with the comment already sent) until the visitor writes again.
  var rating = null;       // {id, score (saved), pressed (shown), comment (saved), stage}
  var ratingWant = null;   // the latest rating to send: requests go one at a time, in order
  var ratingBusy = false;

  // c: the visitor-facing conversation, from the server; last: the one the widget showed
  // before this page, closed since (the session's to_rate), while no new one is open.
  function offerRating(c, last) {
    if (!c || (last ? state.conversationId !== null : c.id !== state.conversationId)) return;
    if (c.state !== "closed") { hideRating(); return; }
    var saved = typeof c.rating === "number" ? c.rating : null;
    if (rating && rating.id === c.id) { // rated meanwhile (here or in another tab)
      if (saved !== null && !ratingBusy && !ratingWant && saved !== rating.score) {
        rating.score = rating.pressed = saved;
        paintRating();
      }
      return;
    }
    if (saved !== null) return; // rated already
    var stick = nearBottom();
    rating = { id: c.id, score: null, pressed: null, comment: null, stage: "ask" };
    cardQuestion.textContent = last ? T.rateLast : T.rateThis;
    ratingWant = null;
    comment.value = "";
    commentLeft.textContent = "";
    cardNote.textContent = "";
    cardNote.className = "sb-rating-note";
    paintRating();
    card.hidden = false;
    if (stick) toBottom();
  }

  function hideRating() {
    if (!rating) return;
    var active = root.activeElement || document.activeElement;
    var focused = card.contains(active);
    rating = null;
    ratingWant = null;
    card.hidden = true;
    if (focused && isOpen) input.focus();
  }

  function paintRating() {
    scoreButtons.forEach(function (b, i) {
      b.setAttribute("aria-pressed", rating.pressed === i + 1 ? "true" : "false");
    });
    more.hidden = rating.stage !== "more";
  }

  function ratingNote(text, error) {
    cardNote.textContent = text;
    cardNote.className = "sb-rating-note" + (error ? " sb-rating-error" : "");
  }

  function rate(score, text, final) {
    rating.pressed = score;
    ratingWant = { id: rating.id, score: score, comment: text || null, final: !!final };
    paintRating();
    if (cardNote.classList.contains("sb-rating-error")) ratingNote("", false);
    pumpRating();
  }

  function pumpRating() {
    if (ratingBusy || !ratingWant) return;
    var want = ratingWant;
    ratingWant = null;
    ratingBusy = true;
    var body = { score: want.score };
    if (want.comment) body.comment = want.comment;
    api("POST", "/chat/" + want.id + "/rating", body).then(null, function () { return null; })
      .then(function (r) {
        ratingBusy = false;
        rated(want, r);
        pumpRating();
      });
  }

  function rated(want, r) {
    if (!rating || rating.id !== want.id) return; // gone meanwhile: the visitor wrote again
    var stick = nearBottom();
    if (r && r.ok) {
      var c = r.data && r.data.conversation;
      rating.score = c && typeof c.rating === "number" ? c.rating : want.score;
      if (want.comment) rating.comment = want.comment;
      if (!ratingWant) rating.pressed = rating.score;
      if (want.final) {
        var active = root.activeElement || document.activeElement;
        var focused = more.contains(active);
        rating.stage = "done";
        comment.value = "";
        commentLeft.textContent = "";
        ratingNote(T.thanks, false);
        paintRating();
        if (focused) cardNote.focus(); // the form is gone: keep the place in the panel
      } else {
        if (rating.stage === "ask") rating.stage = "more";
        if (rating.stage === "done") ratingNote(T.thanks, false);
        else ratingNote("", false);
        paintRating();
      }
      if (stick) toBottom();
      return;
    }
    var code = r ? r.status : 0;
    if (code === 409 || code === 403 || code === 404) { hideRating(); return; } // reopened
    if (!ratingWant) rating.pressed = rating.score; // not saved: show what is
    paintRating();
    // Refused (a comment too long for the server): why; else the network or the server.
    ratingNote(code === 429 ? T.tooManyTries
      : code >= 400 && code < 500 ? t("notSent", { detail: refusal(r.data) })
      : T.ratingFailed, true);
    if (stick) toBottom();
  }

  scoreButtons.forEach(function (b, i) {
    b.addEventListener("click", function () {
      if (!rating) return;
      // Changing the score keeps the comment already sent (a rating replaces the last).
      rate(i + 1, rating.comment, false);
    });
  });
  function sendComment(e) {
    if (e) e.preventDefault();
    if (!rating || rating.pressed === null) return;
    var text = comment.value.trim();
    if (!text) { // nothing to add: the score is what counts
      rating.stage = "done";
      paintRating();
      ratingNote(T.thanks, false);
      cardNote.focus();
      return;
    }
    rate(rating.pressed, text, true);
  }
  more.addEventListener("submit", sendComment);
  comment.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) sendComment(e);
  });
  comment.addEventListener("input", function () {
    var left = comment.maxLength - comment.value.length;
    commentLeft.textContent = left < 100 ? t("left", { n: left }) : "";
  });

  var typingTimers = {};
  var typingWho = {};
  var typingName = null; // the typing agent's chosen name, if they gave one
  function showTyping(who, on, name) {
    if (who === "agent" && on) typingName = typeof name === "string" && name ? name : null;
    if (!who) { typingWho = {}; } else { typingWho[who] = on; }
    if (who) {
      clearTimeout(typingTimers[who]);
      if (on) typingTimers[who] = setTimeout(function () { showTyping(who, false); }, 12000);
    }
    var names = Object.keys(typingWho).filter(function (k) { return typingWho[k]; });
    if (!names.length) { typing.hidden = true; typing.textContent = ""; return; }
    typing.textContent = names.indexOf("agent") < 0 ? T.botTyping
      : typingName ? t("nameTyping", { name: typingName }) : T.teamTyping;
    typing.appendChild(el("span", "sb-dots"));
    typing.hidden = false;
    if (nearBottom()) toBottom();
  }

  var statusTimer = null;
  var everConnected = false;
  function setStatus(kind, text) {
    clearTimeout(statusTimer);
    status.dataset.state = kind;
    status.textContent = text;
    frame.dataset.connection = kind;
  }

  // -- HTTP ----------------------------------------------------------------------------------
  function api(method, path, body) {
    var headers = { "Content-Type": "application/json" };
    if (state.token) headers.Authorization = "Bearer " + state.token;
    return fetch(BASE + path, {
      method: method,
      headers: headers,
      body: body ? JSON.stringify(body) : undefined,
      mode: "cors",
      credentials: "omit",
      cache: "no-store",
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (json) {
        return { ok: response.ok, status: response.status, data: json };
      });
    });
  }

  function sleep(ms) { return new Promise(function (r) { setTimeout(r, ms); }); }
  function backoff(attempt) { // exponential, capped at 30 s, with full jitter on the upper half
    var cap = Math.min(30000, 1000 * Math.pow(2, attempt));
    return cap / 2 + Math.random() * cap / 2;
  }

  var historyLimit = 50;
  function session() {
    var attempt = 0;
    function tryOnce() {
      var body = { conversation_id: state.conversationId };
      if (OPTIONS.name) body.display_name = OPTIONS.name;
      // For the team: the visitor's local time, and the language their browser asks for.
      try { body.time_zone = Intl.DateTimeFormat().resolvedOptions().timeZone; } catch (e) { /* none */ }
      if (navigator.language) body.language = navigator.language;
      if (OPTIONS.userId) {
        body.user_id = OPTIONS.userId;
        body.user_hash = OPTIONS.userHash || "";
        if (OPTIONS.email) body.email = OPTIONS.email;
      }
      return api("POST", "/chat/session", body).then(function (r) {
        if (r.ok) return r.data;
        if (r.status === 403 && r.data.error === "identity_refused" && OPTIONS.userId) {
          // The site signed its customer wrongly (a secret or a hash that does not match):
          // its developer is told, and the visitor chats anonymously rather than not at all.
          if (window.console) {
            console.error("Switchboard chat: the site's identity was refused (" +
                          (r.data.detail || "") + "); chatting anonymously");
          }
          OPTIONS.userId = OPTIONS.userHash = OPTIONS.email = null;
          return tryOnce();
        }
        if (r.status === 403 || r.status === 401) { // not ours any more: start afresh
          state.token = null; state.conversationId = null; state.lastId = 0; save();
        }
        throw new Error("session " + r.status);
      }).catch(function () {
        setStatus("reconnecting", T.cantReach);
        return sleep(backoff(attempt++)).then(tryOnce);
      });
    }
    return tryOnce().then(function (s) {
      if (state.visitorId !== null && s.visitor_id !== state.visitorId) {
        switchVisitor(state.verified, s.conversation_id);
      }
      state.token = s.token;
      state.visitorId = s.visitor_id;
      state.verified = s.verified === true;
      // Deleted while this page did not hear of it (a token renewed after a long sleep):
      // its thread goes, where a closed one would stay shown.
      if (typeof s.deleted_conversation_id === "number") forget(s.deleted_conversation_id);
      if (s.conversation_id !== state.conversationId) {
        state.conversationId = s.conversation_id; // null: the last one was closed
        state.lastId = 0;
      }
      save();
      if (s.limits) {
        input.maxLength = s.limits.max_message_length;
        historyLimit = s.limits.history_limit;
        maxFileBytes = s.limits.max_file_bytes || 0;
        attach.hidden = !maxFileBytes;
      }
      replyTime = typeof s.reply_time === "number" ? s.reply_time : null;
      if (s.conversation) applyState(s.conversation.state, true);
      if (s.to_rate) offerRating(s.to_rate, true);
      showHours(s.hours);
      return s;
    });
  }

  // -- business hours ----------------------------------------------------------------------
  // The note says when the team is back; at the next opening or closing it is read again
  // (GET /chat/hours, a few seconds late, spread so that visitors do not all ask at once).
  var hoursTimer = null;
  // When the team is back, in the visitor's language: the server's words in English; else
  // today, tomorrow or the day, and the time, in the team's time zone (Intl).
  function backWhen(hours) {
    if (LANG === "en" || !hours.next_open) return hours.next_open_text || null;
    try {
      var at = new Date(hours.next_open);
      var zone = { timeZone: hours.timezone || undefined };
      var dayOf = function (d) {
        return new Intl.DateTimeFormat("en-CA", Object.assign({ year: "numeric",
          month: "2-digit", day: "2-digit" }, zone)).format(d);
      };
      var time = new Intl.DateTimeFormat(LANG, Object.assign({ hour: "2-digit",
        minute: "2-digit", timeZoneName: "short" }, zone)).format(at);
      var now = Date.now();
      if (dayOf(at) === dayOf(new Date(now))) return t("today", { time: time });
      if (dayOf(at) === dayOf(new Date(now + 86400000))) return t("tomorrow", { time: time });
      var day = new Intl.DateTimeFormat(LANG, Object.assign({ weekday: "long", day: "numeric",
        month: "long" }, zone)).format(at);
      return t("onDay", { day: day, time: time });
    } catch (err) { // a time zone this browser does not know
      return hours.next_open_text || null;
    }
  }

  function showHours(hours) {
    clearTimeout(hoursTimer);
    teamIn = !hours || hours.open;
    away.hidden = !hours || hours.open;
    if (!away.hidden) {
      var when = backWhen(hours);
      away.textContent = t("away", { back: when ? t("back", { when: when }) : "" });
    }
    var boundary = hours && Date.parse(hours.open ? hours.closes_at : hours.next_open);
    if (!boundary) return;
    var wait = Math.max(1000, boundary - Date.now()) + 1000 + Math.random() * 10000;
    hoursTimer = setTimeout(function () {
      api("GET", "/chat/hours").then(function (r) {
        showHours(r.ok ? r.data.hours : hours);
      }).catch(function () { showHours(hours); });
    }, Math.min(wait, 6 * 3600 * 1000)); // a long wait is checked again every 6 hours
  }

  var catchingUp = null;
  function catchUp() { // what arrived since the last message seen (or the latest page)
    if (catchingUp) return catchingUp;
    catchingUp = (function page() {
      var id = state.conversationId;
      if (!id || !state.token) return Promise.resolve();
      var fresh = byId.size === 0;
      var q = "?limit=" + historyLimit + (fresh || !state.lastId ? "" : "&after=" + state.lastId);
      return api("GET", "/chat/" + id + "/history" + q).then(function (r) {
        if (r.status === 404) { forget(id); return; } // deleted meanwhile
        if (r.status === 403) { state.conversationId = null; save(); return; }
        if (!r.ok) return;
        r.data.messages.forEach(receive);
        seen(id, r.data.seen_message_id);
        if (r.data.conversation && r.data.conversation.id === state.conversationId) {
          applyState(r.data.conversation.state, fresh);
          offerRating(r.data.conversation);
        }
        if (fresh) earlier.hidden = r.data.count < historyLimit;
        if (!fresh && r.data.count >= historyLimit) return page();
      });
    })().catch(function () { /* offline: the next reconnect tries again */ })
      .then(function () { catchingUp = null; });
    return catchingUp;
  }

  earlier.addEventListener("click", function () {
    if (!state.conversationId || firstId === null) return;
    earlier.disabled = true;
    var top = scroller.scrollHeight - scroller.scrollTop;
    api("GET", "/chat/" + state.conversationId + "/history?limit=" + historyLimit +
      "&before=" + firstId).then(function (r) {
      if (!r.ok) return;
      r.data.messages.forEach(render);
      earlier.hidden = r.data.count < historyLimit;
      scroller.scrollTop = scroller.scrollHeight - top;
    }).catch(function () {}).then(function () { earlier.disabled = false; });
  });

  // -- Socket.IO -------------------------------------------------------------------------------
  var socket = null;
  var connected = false;
  var httpMode = false; // the Socket.IO client could not be loaded: HTTP with polling

  function loadSocketIo() {
    return new Promise(function (resolve) {
      var previous = window.io;
      var tag = document.createElement("script");
      tag.src = BASE + "/chat/static/vendor/socket.io.min.js";
      tag.async = true;
      tag.onload = function () {
        var ours = window.io;
        if (previous) window.io = previous; // leave the page's own client alone
        resolve(ours || null);
      };
      tag.onerror = function () { resolve(null); };
      document.head.appendChild(tag);
    });
  }

  function connect(io) {
    socket = io(BASE + "/chat", {
      auth: function (cb) { cb({ token: state.token, conversation_id: state.conversationId }); },
      reconnection: true,
      reconnectionDelay: 1000,
      reconnectionDelayMax: 20000,
      randomizationFactor: 0.5, // jitter: visitors of a restarted server do not return at once
      timeout: 10000,
    });
    socket.on("connect", function () {
      connected = true;
      setStatus("connected", everConnected ? T.reconnected : T.online);
      if (everConnected) statusTimer = setTimeout(function () {
        if (connected) setStatus("connected", T.online);
      }, 5000);
      everConnected = true;
      hereSaid = null; // a new socket: the server has heard nothing of it
      catchUp().then(flush).then(reportReceipts);
    });
    socket.on("disconnect", function (reason) {
      connected = false;
      setStatus("reconnecting", T.lost);
      if (reason === "io server disconnect") retryLater(); // the server closed it: no auto-retry
    });
    socket.io.on("reconnect_attempt", function (n) {
      setStatus("reconnecting", t("attempt", { n: n }));
    });
    socket.on("connect_error", function (err) {
      connected = false;
      if (socket.active) { // a network failure: the manager retries with backoff
        setStatus("reconnecting", T.offline);
        return;
      }
      var code = err && err.message;
      if (code === "forbidden_origin") { setStatus("offline", T.unavailable); return; }
      if (code === "not_found" && state.conversationId !== null) forget(state.conversationId);
      if (code === "forbidden") { state.conversationId = null; state.lastId = 0; }
      save();
      setStatus("reconnecting", T.reconnecting);
      retryLater(code === "unauthorized"); // an expired token: renew it (or start afresh)
    });
    socket.on("message", receive);
    socket.on("hours", function (d) { // the team changed its hours (Settings)
      if (d && typeof d === "object") showHours(d.hours);
    });
    socket.on("deleted", function (d) {
      if (d && typeof d.conversation_id === "number" && forget(d.conversation_id)) flush();
    });
    socket.on("status", function (s) {
      if (!s || s.conversation_id !== state.conversationId) return;
      applyState(s.state);
      offerRating(s.conversation || { id: s.conversation_id, state: s.state, rating: null });
    });
    socket.on("seen", function (d) { if (d) seen(d.conversation_id, d.message_id); });
    socket.on("presence_check", function () { sayHere(true); });
    socket.on("typing", function (t) {
      if (t && t.conversation_id === state.conversationId) {
        showTyping(t.sender_type, t.typing !== false, t.sender_name);
      }
    });
  }

  var refusals = 0;
  function retryLater(renew) {
    setTimeout(function () {
      (renew ? session() : Promise.resolve()).then(function () { socket.connect(); });
    }, backoff(refusals++));
  }

  // Another tab of the same site changed the shared state: follow its conversation, and
  // take over its unsent messages too (sending one twice is harmless: same client id).
  window.addEventListener("storage", function (e) {
    if (e.key !== STORE_KEY || !e.newValue) return;
    var other;
    try { other = sanitize(JSON.parse(e.newValue)); } catch (err) { return; }
    if (other.token) state.token = other.token;
    other.outbox.forEach(function (item) {
      var known = state.outbox.some(function (i) { return i.client_id === item.client_id; });
      var li = byClient.get(item.client_id);
      if (!known && !(li && li.dataset.id)) { state.outbox.push(item); if (started) renderPending(item); }
    });
    var newer = other.conversationId &&
      (state.conversationId === null || other.conversationId > state.conversationId);
    if (newer) {
      hideRating();
      state.conversationId = other.conversationId;
      if (connected && socket && !httpMode) {
        socket.emit("join", { conversation_id: other.conversationId }, function () {
          catchUp().then(flush);
        });
      }
    }
    memory = state;
  });

  // -- sending: an outbox in localStorage, each item sent until the server acknowledges it ----
  var flushing = false;
  var flushTimer = null;
  // The page of the site the visitor writes from goes with each message, for the team
  // (the conversation page shows it): its address and title, on http(s) pages only.
  function currentPage() {
    if (!/^https?:$/.test(location.protocol)) return null;
    return { url: location.href, title: document.title || "" };
  }

  function enqueue(kind, content) {
    var item = { client_id: newId(), kind: kind, content: content, page: currentPage() };
    hideRating(); // writing again: the next message opens a new conversation
    state.outbox.push(item);
    save();
    renderPending(item);
    flush();
  }

  function later(ms) {
    clearTimeout(flushTimer);
    flushTimer = setTimeout(flush, ms);
  }

  function deliver(item) { // -> {message} | {error, status} | null (no answer: try again later)
    var escalate = item.kind === "escalate";
    var payload = escalate ? { client_id: item.client_id } : { client_id: item.client_id, content: item.content };
    if (item.page) payload.page = item.page;
    if (!httpMode) {
      return new Promise(function (resolve) {
        socket.timeout(10000).emit(escalate ? "escalate" : "message", payload, function (err, ack) {
          resolve(err ? null : ack);
        });
      });
    }
    var path = (state.conversationId ? "/chat/" + state.conversationId : "/chat") +
      (escalate ? "/escalate" : "/messages");
    return api("POST", path, payload).then(function (r) {
      if (r.ok) return r.data.status === "queued" ? r.data : r.data.message;
      // The refusal's numbers (its limit) go along with its code.
      return Object.assign({}, r.data, { error: r.data.error || "error",
                                         detail: r.data.detail || "", status: r.status });
    }).catch(function () { return null; });
  }

  function flush() {
    if (flushing || !state.outbox.length || (!connected && !httpMode)) return;
    flushing = true;
    var item = state.outbox[0];
    var sentTo = state.conversationId;
    renderPending(item);
    deliver(item).then(function (ack) {
      flushing = false;
      if (!ack) { later(3000); return; }
      // Its conversation was deleted (a 404 for it, or stored just before the deletion):
      // the item stays first in the outbox and opens a new conversation.
      if (ack.status === 404 && ack.error === "not_found" && sentTo !== null) {
        forget(sentTo);
        flush();
        return;
      }
      if (typeof ack.conversation_id === "number" && deletedIds.has(ack.conversation_id)) {
        flush();
        return;
      }
      if (ack.status === "queued") { // acknowledged: the server keeps it until its store is back
        state.outbox.shift();
        save();
        markQueued(item);
        flush();
        return;
      }
      if (ack.error) {
        if (ack.status === 429 || ack.status >= 500) {
          byClient.get(item.client_id).querySelector(".sb-meta").textContent =
            ack.status === 429 ? T.slowDown : T.retrying;
          later(ack.status === 429 ? 8000 : 4000);
          return;
        }
        if (ack.status === 403 && !httpMode) { state.conversationId = null; }
        state.outbox.shift();
        save();
        markFailed(item, refusal(ack));
        flush();
        return;
      }
      state.outbox.shift();
      save();
      receive(ack);
      flush();
    });
  }

  // -- files: each sent at once over HTTP, with its own message (POST /chat/files); kept in
  // memory only (a file cannot wait in localStorage), so one that cannot go now is marked,
  // and a click on it sends it again (the same client id: stored once) ----------------------
  var maxFileBytes = 0;
  function sendFile(file, item) {
    item = item || { client_id: newId(), kind: "file", content: "",
                     attachments: [{ type: "file", name: file.name || T.file, size: file.size }] };
    if (file.size > maxFileBytes) {
      renderPending(item);
      markFailed(item, t("tooBig", { size: fileSize(maxFileBytes) }));
      return;
    }
    if (!file.size) {
      renderPending(item);
      markFailed(item, T.empty);
      return;
    }
    hideRating();
    var li = renderPending(item);
    li.classList.remove("sb-failed");
    li.classList.add("sb-pending");
    li.querySelector(".sb-meta").textContent = T.sending;
    var body = new FormData();
    body.append("client_id", item.client_id);
    var page = currentPage();
    if (page) {
      body.append("page_url", page.url);
      body.append("page_title", page.title);
    }
    body.append("file", file, file.name || T.file);
    var path = (state.conversationId ? "/chat/" + state.conversationId : "/chat") + "/files";
    fetch(BASE + path, {
      method: "POST",
      headers: state.token ? { Authorization: "Bearer " + state.token } : {},
      body: body,
      mode: "cors",
      credentials: "omit",
      cache: "no-store",
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (json) {
        if (response.ok && json.message) {
          receive(json.message);
          return;
        }
        if (response.status === 429 || response.status >= 500) {
          retryable(li, file, item, response.status === 429
            ? T.slowDownTap : T.notSentTap);
          return;
        }
        markFailed(item, refusal(json));
      });
    }).catch(function () {
      retryable(li, file, item, T.notSentTap);
    });
  }
  function retryable(li, file, item, text) {
    li.classList.remove("sb-pending");
    li.classList.add("sb-failed");
    var meta = li.querySelector(".sb-meta");
    meta.textContent = "";
    var again = el("button", "sb-retry", text);
    again.type = "button";
    again.addEventListener("click", function () { sendFile(file, item); });
    meta.appendChild(again);
  }
  attach.addEventListener("click", function () { picker.click(); });
  picker.addEventListener("change", function () {
    for (var i = 0; i < picker.files.length; i++) sendFile(picker.files[i]);
    picker.value = ""; // the same file may be chosen again
  });
  input.addEventListener("paste", function (e) {
    var files = e.clipboardData && e.clipboardData.files;
    if (!maxFileBytes || !files || !files.length) return; // text is pasted as text
    e.preventDefault();
    for (var i = 0; i < files.length; i++) sendFile(files[i]);
  });

  // -- input ---------------------------------------------------------------------------------
  var typingSentAt = 0;
  var typingStop = null;
  function typingSignal(on) {
    if (!connected || httpMode || !state.conversationId) return;
    socket.emit("typing", { typing: on });
  }
  input.addEventListener("input", function () {
    input.style.height = "auto";
    input.style.height = Math.min(input.scrollHeight, 120) + "px";
    var left = input.maxLength - input.value.length;
    counter.textContent = left < 100 ? t("left", { n: left }) : "";
    var now = Date.now();
    if (input.value && now - typingSentAt > 2500) { typingSentAt = now; typingSignal(true); }
    clearTimeout(typingStop);
    typingStop = setTimeout(function () { typingSentAt = 0; typingSignal(false); }, 4000);
  });
  input.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      form.requestSubmit ? form.requestSubmit() : submit(e);
    }
  });
  function submit(e) {
    if (e) e.preventDefault();
    var text = input.value.trim();
    if (!text) return;
    input.value = "";
    input.style.height = "auto";
    counter.textContent = "";
    clearTimeout(typingStop);
    typingSentAt = 0;
    enqueue("message", text);
  }
  form.addEventListener("submit", submit);
  human.addEventListener("click", function () {
    human.disabled = true;
    enqueue("escalate", ESCALATION_TEXT);
  });

  // -- opening and closing ------------------------------------------------------------------
  var started = null;
  function start() {
    if (started) return started;
    started = session().then(function () {
      state.outbox.forEach(renderPending);
      return catchUp();
    }).then(loadSocketIo).then(function (io) {
      if (io) { connect(io); return; }
      httpMode = true; // no Socket.IO client: plain HTTP, polling for replies
      connected = true;
      setStatus("connected", T.online);
      flush();
      setInterval(function () { catchUp().then(flush); }, 4000);
    });
    return started;
  }

  function open() {
    isOpen = true;
    panel.hidden = false;
    frame.classList.add("sb-open");
    bubble.setAttribute("aria-expanded", "true");
    unread = 0;
    badge.hidden = true;
    start();
    toBottom();
    reportReceipts();
    setTimeout(function () { input.focus(); }, 50);
  }
  function close() {
    isOpen = false;
    panel.hidden = true;
    frame.classList.remove("sb-open");
    bubble.setAttribute("aria-expanded", "false");
    bubble.focus();
    sayHere();
  }
  bubble.addEventListener("click", function () { (isOpen ? close : open)(); });
  closeBtn.addEventListener("click", close);
  panel.addEventListener("keydown", function (e) { if (e.key === "Escape") close(); });

  // A returning visitor with a conversation (or unsent messages) hears replies at once.
  if (state.token && (state.conversationId || state.outbox.length)) start();
})();
